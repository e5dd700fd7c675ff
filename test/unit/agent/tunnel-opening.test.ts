/**
 * The opening of an L4 tunnel stream (`tunnel/opening.ts`), on loopback: a client socket
 * accepted by a "proxy", a plaintext HTTP/2 "peer agent" that refuses the first streams with
 * REFUSED_STREAM and then answers 200 and echoes. A refused stream is opened again and the
 * client's bytes already written are written again, in order, once; past the bound of refusals
 * the connection is reset; a client gone during a reopen leaves no stream behind.
 */
import t from 'tap';
import http2, { constants as h2, type ClientHttp2Session, type ClientHttp2Stream, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import net, { type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { OPENING_HOLD_MAX, OPENING_REOPENS_MAX, openTunnel, tunnelStreamsReopened, type OpeningHooks } from '../../../src/agent/proxy/tunnel/opening.js';
import { splice, type SpliceOutcome } from '../../../src/agent/proxy/splice.js';

interface PeerOptions {
  /** Streams refused before the first answered one. */
  readonly refuse: number;
  /** Wait this long before refusing (the client's bytes pile up meanwhile). */
  readonly refuseAfterMs?: number;
  /** Called as each refusal is sent. */
  readonly onRefuse?: () => void;
}

interface Rig {
  readonly client: Socket;
  readonly accepted: Socket;
  readonly session: ClientHttp2Session;
  /** Streams the peer saw, and the bytes each answered stream received. */
  readonly peer: { streams: number; received: Buffer[] };
  /** The peer's side of each session, in order. */
  readonly peerSessions: ServerHttp2Session[];
  open(): ClientHttp2Stream;
  /** A CONNECT stream on a new session. */
  openFresh(): ClientHttp2Stream;
}

async function rig(t: { teardown(fn: () => void): void }, opts: PeerOptions): Promise<Rig> {
  const peer = { streams: 0, received: [] as Buffer[] };
  const server = http2.createServer();
  const peerSessions: ServerHttp2Session[] = [];
  server.on('session', (s: ServerHttp2Session) => void peerSessions.push(s));
  server.on('stream', (stream: ServerHttp2Stream) => {
    peer.streams += 1;
    stream.on('error', () => undefined);
    if (peer.streams <= opts.refuse) {
      const refuse = (): void => {
        opts.onRefuse?.();
        if (!stream.destroyed) stream.close(h2.NGHTTP2_REFUSED_STREAM);
      };
      if (opts.refuseAfterMs === undefined) refuse();
      else setTimeout(refuse, opts.refuseAfterMs);
      return;
    }
    const chunks: Buffer[] = [];
    stream.respond({ ':status': 200 });
    stream.on('data', (c: Buffer) => {
      chunks.push(c);
      stream.write(c);
    });
    stream.on('end', () => {
      peer.received.push(Buffer.concat(chunks));
      stream.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sessions = [http2.connect(url)];
  const session = sessions[0]!;
  session.on('error', () => undefined);
  const proxy = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  const acceptedP = once(proxy, 'connection') as Promise<[Socket]>;
  const client = net.connect({ port: (proxy.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  client.on('error', () => undefined);
  const [accepted] = await acceptedP;
  t.teardown(() => {
    client.destroy();
    accepted.destroy();
    for (const s of sessions) s.destroy();
    // The peer's sessions too: on Node 20 a peer session that sent GOAWAY kept its socket (and
    // the test process) alive after the client's session was destroyed.
    for (const s of peerSessions) s.destroy();
    proxy.close();
    server.close();
  });
  const connectHeaders = { ':method': 'CONNECT', ':authority': 'workload:8080' };
  return {
    client,
    accepted,
    session,
    peer,
    peerSessions,
    open: () => session.request(connectHeaders),
    openFresh: () => {
      const fresh = http2.connect(url);
      fresh.on('error', () => undefined);
      sessions.push(fresh);
      return fresh.request(connectHeaders);
    },
  };
}

interface Seen {
  opened: number;
  lost: { refused: boolean }[];
  failed: unknown[];
  status: number | undefined;
  outcome: Promise<SpliceOutcome>;
}

/** Hooks as the outbound proxy's: the splice's outcome is what the test awaits. */
function hooks(r: Rig, open: () => Promise<ClientHttp2Stream> = () => Promise.resolve(r.open())): { hooks: OpeningHooks; seen: Seen } {
  let resolve!: (o: SpliceOutcome) => void;
  const seen: Seen = { opened: 0, lost: [], failed: [], status: undefined, outcome: new Promise((r) => (resolve = r)) };
  return {
    seen,
    hooks: {
      open,
      opened: () => void (seen.opened += 1),
      splice: (stream) => splice(r.accepted, stream, resolve, { turnBudget: null }),
      answered: (headers) => void (seen.status = headers[':status']),
      lost: (_stream, refused) => void seen.lost.push({ refused }),
      failed: (err) => {
        seen.failed.push(err);
        r.accepted.resetAndDestroy();
        resolve({ reset: true });
      },
    },
  };
}

function collect(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

t.test('a stream refused before the answer is opened again; the bytes go once, in order', async (t) => {
  const r = await rig(t, { refuse: 1 });
  const before = tunnelStreamsReopened();
  const { hooks: h, seen } = hooks(r);
  const sent = 'first bytes, written before any answer';
  let got = '';
  const echoed = new Promise<string>((resolve) => {
    r.client.on('data', (c: Buffer) => {
      got += c.toString();
      if (got.length >= sent.length) resolve(got);
    });
  });
  r.client.write('first bytes, ');
  r.client.write('written before any answer');
  openTunnel(r.accepted, r.open(), h);
  const answer = await echoed;
  r.client.end();
  t.equal(seen.opened, 1, 'one stream opened again');
  t.equal(tunnelStreamsReopened() - before, 1, 'counted');
  t.equal(r.peer.streams, 2, 'the peer saw the refused stream and the new one');
  t.same(seen.lost, [], 'nothing lost');
  t.equal(seen.status, 200, 'the new stream was answered');
  t.equal(answer, sent, 'every byte once, in order');
  t.equal((await seen.outcome).reset, false, 'a clean close');
});

t.test("our own session refuses a stream made as the peer's GOAWAY comes in; it is opened again on a new session", async (t) => {
  // The race of an agent upgrade: the peer agent, draining, sends GOAWAY (naming the highest
  // stream id: it refuses nothing itself). A stream made after the GOAWAY reached our socket
  // but before our session read it is refused by nghttp2 when it would send its HEADERS.
  const r = await rig(t, { refuse: 0 });
  const warm = r.open();
  await once(warm, 'response');
  warm.close();
  const { hooks: h, seen } = hooks(r, () => Promise.resolve(r.openFresh()));
  const sent = 'bytes of a connection opened during the drain';
  let got = '';
  const echoed = new Promise<string>((resolve) => {
    r.client.on('data', (c: Buffer) => {
      got += c.toString();
      if (got.length >= sent.length) resolve(got);
    });
  });
  r.client.write(sent);
  await new Promise((resolve) => setTimeout(resolve, 10));
  r.peerSessions[0]!.goaway(h2.NGHTTP2_NO_ERROR, 2 ** 31 - 1);
  // The peer's GOAWAY is written in this turn's check phase; the stream is made right after.
  const first = await new Promise<ClientHttp2Stream>((resolve) => setImmediate(() => resolve(r.open())));
  openTunnel(r.accepted, first, h);
  t.equal(await echoed, sent, 'the connection carried its bytes');
  r.client.end();
  t.equal(first.rstCode, h2.NGHTTP2_REFUSED_STREAM, 'the first stream was refused by our own session');
  t.equal(seen.opened, 1, 'opened again, on a new session');
  t.equal((await seen.outcome).reset, false, 'a clean close');
});

t.test('a client that half-closed before the answer: the new stream carries its FIN too', async (t) => {
  const r = await rig(t, { refuse: 2 });
  const { hooks: h, seen } = hooks(r);
  const echoed = collect(r.client);
  r.client.end('request and FIN');
  await new Promise((resolve) => setTimeout(resolve, 20));
  openTunnel(r.accepted, r.open(), h);
  t.equal((await echoed).toString(), 'request and FIN', 'the echo came back');
  t.same(r.peer.received.map(String), ['request and FIN'], 'the answered stream got the bytes and END_STREAM');
  t.equal(seen.opened, 2, 'two reopens');
  t.equal((await seen.outcome).reset, false, 'a clean close');
});

t.test('more bytes than the kept bound before the answer: nothing is lost', async (t) => {
  const r = await rig(t, { refuse: 1, refuseAfterMs: 50 });
  const { hooks: h, seen } = hooks(r);
  const payload = randomBytes(OPENING_HOLD_MAX * 4);
  const echoed = collect(r.client);
  openTunnel(r.accepted, r.open(), h);
  r.client.end(payload);
  const got = await echoed;
  t.equal(got.length, payload.length, 'as many bytes back as sent');
  t.ok(got.equals(payload), 'the same bytes, in order');
  t.equal(seen.opened, 1, 'one reopen');
  t.equal((await seen.outcome).reset, false, 'a clean close');
});

t.test('a client that sends more than the kept bound before the answer is paused: the agent reads no more', async (t) => {
  // The refusal comes 100 ms after a 1 MiB write: unpaused, loopback would have delivered it all.
  let readAtRefusal = -1;
  const holder: { accepted?: Socket } = {};
  const r = await rig(t, { refuse: 1, refuseAfterMs: 100, onRefuse: () => void (readAtRefusal = holder.accepted?.bytesRead ?? -1) });
  holder.accepted = r.accepted;
  const { hooks: h } = hooks(r);
  const payload = randomBytes(1024 * 1024);
  const echoed = collect(r.client);
  openTunnel(r.accepted, r.open(), h);
  r.client.end(payload);
  const got = await echoed;
  // One socket read past the bound at most (libuv reads up to 64 KiB at a time).
  t.ok(readAtRefusal >= OPENING_HOLD_MAX, `the bound was reached before the answer (${readAtRefusal} bytes read)`);
  t.ok(readAtRefusal <= OPENING_HOLD_MAX + 64 * 1024, `and no more than one read past it (${readAtRefusal} <= ${OPENING_HOLD_MAX} + 65536)`);
  t.ok(got.equals(payload), 'then every byte, in order');
});

t.test('refused more often than the bound: the connection is reset, the refusal reported', async (t) => {
  const r = await rig(t, { refuse: OPENING_REOPENS_MAX + 1 });
  const { hooks: h, seen } = hooks(r);
  const reset = new Promise<string>((resolve) => r.client.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')));
  r.client.write('hello');
  openTunnel(r.accepted, r.open(), h);
  t.equal(await reset, 'ECONNRESET', 'the client is reset');
  t.equal(seen.opened, OPENING_REOPENS_MAX, 'opened again as often as allowed');
  t.same(seen.lost, [{ refused: true }], 'the last refusal reported as such');
  t.equal(r.peer.streams, OPENING_REOPENS_MAX + 1, 'no stream beyond the bound');
  const o = await seen.outcome;
  t.equal(o.reset, true, 'the splice reports a reset');
});

t.test('a stream reset (not refused) before the answer is not opened again', async (t) => {
  const r = await rig(t, { refuse: 0 });
  const { hooks: h, seen } = hooks(r);
  const reset = new Promise<string>((resolve) => r.client.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')));
  const stream = r.open();
  openTunnel(r.accepted, stream, h);
  stream.close(h2.NGHTTP2_CANCEL);
  t.equal(await reset, 'ECONNRESET', 'the client is reset');
  t.equal(seen.opened, 0, 'no reopen');
  t.same(seen.lost, [{ refused: false }], 'lost, not refused');
});

t.test('the client goes away while a stream is opened again: the new stream is closed, nothing spliced twice', async (t) => {
  const r = await rig(t, { refuse: 1 });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const late: ClientHttp2Stream[] = [];
  const { hooks: h, seen } = hooks(r, async () => {
    r.client.resetAndDestroy();
    await gate;
    const s = r.open();
    late.push(s);
    return s;
  });
  let splices = 0;
  const counted: OpeningHooks = { ...h, splice: (s) => ((splices += 1), h.splice(s)) };
  r.client.write('x');
  openTunnel(r.accepted, r.open(), counted);
  const o = await seen.outcome;
  t.equal(o.reset, true, 'the connection ends as a reset');
  release();
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(late.length, 1, 'the new stream was made');
  t.equal(late[0]?.destroyed, true, 'and closed at once');
  t.equal(seen.opened, 0, 'never handed to the connection');
  t.equal(splices, 1, 'spliced once');
});

t.test('opening again fails: the connection is reset and the failure reported', async (t) => {
  const r = await rig(t, { refuse: 1 });
  const { hooks: h, seen } = hooks(r, () => Promise.reject(new Error('no session')));
  const closed = new Promise((resolve) => r.client.once('close', resolve));
  r.client.write('x');
  openTunnel(r.accepted, r.open(), h);
  await closed;
  t.equal(seen.failed.length, 1, 'failed once');
  t.equal((seen.failed[0] as Error).message, 'no session');
  t.same(seen.lost, [], 'not reported as lost too');
});
