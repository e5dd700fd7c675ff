/**
 * Attacks on the limits of the source agent's application-facing HTTP/2 server (OutboundHttp's
 * h2 server: 256 concurrent streams per connection, 32 MB of session memory), in-process on
 * 127.0.0.1 with the rig of outbound-http.test.ts: captured connections go through
 * OutboundProxy to OutboundHttp, whose upstream is a fake that holds requests until released
 * and counts what reaches it. The attacker is a raw client (raw-h2-client.ts), since Node's own
 * client obeys the server's SETTINGS. Checked: a stream flood before and after the client ACKs
 * our SETTINGS, a client that never grants flow-control window, and responses queued past the
 * session memory budget; each time, how many requests reach the upstream, what the client is
 * told, that a well-behaved connection is still served, and that every counter returns to 0.
 */
import { once } from 'node:events';
import http2, { type IncomingHttpHeaders } from 'node:http2';
import { Readable, Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { ConnectionTable } from '../../../src/agent/proxy/connection-table.js';
import { InboundProxy } from '../../../src/agent/proxy/inbound.js';
import { OutboundProxy } from '../../../src/agent/proxy/outbound.js';
import type { TunnelPool } from '../../../src/agent/proxy/tunnel/pool.js';
import { OutboundHttp, type HttpServerLimits } from '../../../src/agent/http/outbound-http.js';
import type { RequestHead, UpstreamCall, UpstreamResponse } from '../../../src/agent/http/exchange.js';
import { BalancerRegistry } from '../../../src/agent/policy/balancer.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import type { EndpointInfo, WorkloadInfo } from '../../../src/mesh/types.js';
import { WAIT_FOR_DEFAULT_TIMEOUT_MS, waitFor } from '../../helpers/wait-for.js';
import { RawH2Client } from './raw-h2-client.js';
import { captureListener } from './capture-listener.js';

const silent = pino({ level: 'silent' });
const { NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_PROTOCOL_ERROR } = http2.constants;
/** The limit under attack (outbound-http.ts, the h2 server's SETTINGS_MAX_CONCURRENT_STREAMS). */
const MAX_STREAMS = 256;
/** Requests the attacker sends at once: 44 past the limit. */
const FLOOD = 300;
/** Requests to this authority are held by the fake upstream until released; others are answered at once. */
const HELD = 'held.demo';
/** The authority of the well-behaved client's requests. */
const POLITE = 'polite.demo';

function workload(name: string, address: string): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node: 'node1', nodeAddress: '198.18.0.11',
    serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: {}, tlsMode: 'STRICT', namedPorts: [],
  };
}
const client = workload('client', '127.0.0.2');
const server = workload('server', '127.0.0.3');
const endpoint: EndpointInfo = { workload: server.uid, address: '127.0.0.3', node: 'node1', nodeAddress: '198.18.0.11', meshed: true, identity: server.identity, targetPorts: { 80: 8080 } };
/** One Service whose port declares HTTP/2 (served with prior knowledge, no sniff); its endpoint is on this node: the `local` call. */
const index = new WorkloadIndex({
  version: 'v1', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local',
  localWorkloads: [client, server], workloads: [client, server],
  services: [{ key: 'demo/web', name: 'web', namespace: 'demo', vips: ['127.0.0.9'], ports: [{ port: 80, targetPort: 8080, name: 'http2-web' }], endpoints: [endpoint] }],
}, { allowLoopback: true });

/** How the fake upstream answers. */
type Answer = { readonly body: 'small' } | { readonly body: 'endless'; readonly chunkBytes: number };

/**
 * The workload behind the agent, as the `local` caller: counts the calls that reach it, holds
 * those for {@link HELD} until {@link FakeUpstream.release}, and answers with a small body or an
 * endless one produced only as fast as it is read (so `pulled` is what the agent took).
 */
class FakeUpstream {
  /** Calls made (not counting {@link POLITE} ones). */
  reached = 0;
  /** Calls not over yet (not ended, not aborted), and the most at once (not counting {@link POLITE} ones). */
  active = 0;
  peak = 0;
  aborted = 0;
  /** Calls of {@link POLITE} requests not over yet. */
  politeActive = 0;
  /** Response body bytes the agent has read. */
  pulled = 0;
  readonly bodies: Readable[] = [];
  private held: Array<() => void> = [];

  constructor(private readonly answer: Answer) {}

  readonly call = (head: RequestHead): UpstreamCall => {
    // A well-behaved client's request is answered at once with a small body, outside the counts.
    const polite = head.authority === POLITE;
    if (polite) {
      this.politeActive++;
    } else {
      this.reached++;
      this.active++;
      this.peak = Math.max(this.peak, this.active);
    }
    let over = false;
    const end = (): void => {
      if (over) return;
      over = true;
      if (polite) this.politeActive--;
      else this.active--;
    };
    let body: Readable | undefined;
    const response = new Promise<UpstreamResponse>((resolve) => {
      const respond = (): void => {
        if (over) return;
        body = polite ? Readable.from([Buffer.from('ok\n')]) : this.body();
        body.once('close', end);
        resolve({ status: 200, headers: { 'content-type': 'text/plain' }, body, trailers: new Promise((r) => body?.once('end', () => r({}))) });
      };
      if (head.authority === HELD) this.held.push(respond);
      else respond();
    });
    return {
      body: new Writable({ write: (_c: Buffer, _e, cb: () => void) => cb() }),
      response,
      abort: () => {
        if (!over && !polite) this.aborted++;
        body?.destroy();
        end();
      },
    };
  };

  /** Answers every held call; returns how many. */
  release(): number {
    const held = this.held;
    this.held = [];
    for (const respond of held) respond();
    return held.length;
  }

  private body(): Readable {
    const { answer } = this;
    if (answer.body === 'small') return Readable.from([Buffer.from('ok\n')]);
    const chunk = Buffer.alloc(answer.chunkBytes, 0x61);
    // 1 GiB per response: far more than any bound under test, and a bounded producer.
    let left = Math.floor(2 ** 30 / answer.chunkBytes);
    const body = new Readable({
      highWaterMark: answer.chunkBytes,
      read: () => {
        if (left-- <= 0) {
          body.push(null);
          return;
        }
        this.pulled += chunk.length;
        body.push(chunk);
      },
    });
    this.bodies.push(body);
    return body;
  }
}

interface Rig {
  readonly port: number;
  readonly http7: OutboundHttp;
  readonly table: ConnectionTable;
}

/** OutboundProxy + OutboundHttp on a capture listener at 127.0.0.1:0, every connection "captured" to the Service VIP. */
async function rig(t: Test, upstream: FakeUpstream, limits: Partial<HttpServerLimits> = {}): Promise<Rig> {
  const balancers = new BalancerRegistry();
  const never = (): never => {
    throw new Error('this test has only a local endpoint');
  };
  const http7 = new OutboundHttp({
    logger: silent, index: () => index, balancers,
    tunnel: () => Promise.reject(new Error('this test has only a local endpoint')),
    local: (_source, _target, head) => upstream.call(head),
    plaintext: never,
    limits,
  });
  const table = new ConnectionTable(silent);
  const inbound = new InboundProxy({ logger: silent, table, index: () => index, agentPorts: new Set() });
  const outbound = new OutboundProxy({
    logger: silent, table, index: () => index, inbound, tunnels: {} as TunnelPool, ownPorts: new Set(), balancers, http: http7,
    captured: () => ({ source: '127.0.0.2', destination: { address: '127.0.0.9', port: 80, family: 4 } }),
  });
  return { port: await captureListener(t, outbound, http7), http7, table };
}

/** Stream ids 1, 3, 5, ... of `n` client requests. */
const ids = (n: number): number[] => Array.from({ length: n }, (_, i) => 2 * i + 1);

/** One request on a new, well-behaved connection (Node's client): the status. */
async function politeGet(port: number): Promise<number> {
  const c = http2.connect(`http://127.0.0.1:${port}`);
  c.on('error', () => undefined);
  try {
    const req = c.request({ ':path': '/', ':authority': POLITE });
    req.end();
    // Bounded as waitFor is: an agent that never answers fails the test, it does not hang it.
    const signal = AbortSignal.timeout(WAIT_FOR_DEFAULT_TIMEOUT_MS);
    const [headers] = (await once(req, 'response', { signal })) as [IncomingHttpHeaders];
    req.resume();
    await once(req, 'end', { signal });
    return Number(headers[':status']);
  } finally {
    c.close();
  }
}

/** Resolves once every counter of the rig and the upstream is back to zero (the connection is gone). */
async function allClosed(r: Rig, upstream: FakeUpstream): Promise<void> {
  await waitFor('no connection, session or upstream call left', () => r.table.size === 0 && r.http7.connectionCount === 0 && upstream.active === 0 && upstream.politeActive === 0);
}

t.test('300 streams at once, before the client ACKs our SETTINGS: 256 reach the upstream, 44 are refused, every admitted one is answered', async (t) => {
  const upstream = new FakeUpstream({ body: 'small' });
  const r = await rig(t, upstream);
  const raw = new RawH2Client(r.port);
  t.teardown(() => raw.destroy());
  await raw.connected();
  const all = ids(FLOOD);
  const admitted = all.slice(0, MAX_STREAMS);
  const beyond = all.slice(MAX_STREAMS);
  raw.write(RawH2Client.hello(), ...all.map((id) => RawH2Client.get(id, HELD)));
  // nghttp2 handles the whole flood in order: once the last stream's reset is here, every
  // admitted stream has reached the upstream (they are emitted while the frames are read).
  // Not met (a limit other than 256): the assertions below say how.
  await waitFor('the flood handled', () => raw.streams.size >= beyond.length && upstream.reached >= MAX_STREAMS).catch(() => undefined);
  // Why REFUSED_STREAM, not a connection error: nghttp2 checks a new stream against two limits.
  // Against the acknowledged one (ours applies only once the client ACKs our SETTINGS; until
  // then it is the unlimited default) a stream too many is a connection error; against the
  // pending one (256 from the moment our SETTINGS went out) it is a stream error,
  // REFUSED_STREAM, which RFC 9113 5.1.2 allows and which tells the client nothing was
  // processed, so it may retry. This client never ACKs: the pending limit refuses.
  t.same({ reached: upstream.reached, peak: upstream.peak }, { reached: MAX_STREAMS, peak: MAX_STREAMS }, 'at most 256 requests of the connection reach the upstream');
  t.same(raw.resetWith(NGHTTP2_REFUSED_STREAM), beyond, 'the 44 streams past the limit are refused with REFUSED_STREAM');
  t.same({ goaways: raw.goaways, answered: raw.answered(all), closed: raw.closed, error: raw.error }, { goaways: [], answered: [], closed: false, error: undefined }, 'no connection error; the admitted streams wait for the upstream');
  t.equal(await politeGet(r.port), 200, 'meanwhile a new, well-behaved connection is served');

  t.equal(upstream.release(), MAX_STREAMS, 'the upstream had all 256 held');
  await waitFor('every admitted stream answered', () => admitted.every((id) => raw.streams.get(id)?.ended === true)).catch(() => undefined);
  t.same(raw.answered(all), admitted, 'every admitted stream got its response, no refused one did');
  t.same(admitted.filter((id) => raw.streams.get(id)?.ended !== true), [], 'and each response ended');
  t.same(raw.summary(), { streams: FLOOD, goaways: 0, closed: 0, ended: MAX_STREAMS, [`reset:${NGHTTP2_REFUSED_STREAM}`]: beyond.length });

  raw.write(RawH2Client.get(2 * FLOOD + 1, 'web.demo'));
  await waitFor('a request after the flood', () => raw.streams.get(2 * FLOOD + 1)?.ended === true).catch(() => undefined);
  t.equal(raw.streams.get(2 * FLOOD + 1)?.ended, true, 'the same connection serves a request once its streams are done');

  raw.destroy();
  await allClosed(r, upstream);
  t.same({ table: r.table.size, connections: r.http7.connectionCount, upstream: upstream.active, aborted: upstream.aborted }, { table: 0, connections: 0, upstream: 0, aborted: 0 });
});

t.test('300 streams after the client ACKed our SETTINGS: a connection error, the connection\'s requests are cancelled, others served', async (t) => {
  const upstream = new FakeUpstream({ body: 'small' });
  const r = await rig(t, upstream);
  const raw = new RawH2Client(r.port);
  t.teardown(() => raw.destroy());
  await raw.connected();
  raw.write(RawH2Client.hello());
  await waitFor('our SETTINGS', () => raw.settings > 0);
  raw.write(RawH2Client.settingsAck(), ...ids(FLOOD).map((id) => RawH2Client.get(id, HELD)));
  await waitFor('the connection closed', () => raw.closed).catch(() => undefined);
  t.equal(raw.closed, true, 'the agent closed the connection');
  // The client broke a limit it acknowledged: nghttp2 returns NGHTTP2_ERR_PROTO from
  // nghttp2_session_mem_recv (a connection error), Node treats any error from it as fatal and
  // destroys the session, and a destroy with an error sends GOAWAY INTERNAL_ERROR on Node.js
  // 20; Node.js 22 and 24 pass nghttp2's own PROTOCOL_ERROR on. The streams admitted before
  // it are reset with it.
  const goawayCode = Number(process.versions.node.split('.')[0]) >= 22 ? NGHTTP2_PROTOCOL_ERROR : NGHTTP2_INTERNAL_ERROR;
  t.same(raw.goaways, [{ lastStreamId: 2 * MAX_STREAMS - 1, errorCode: goawayCode }], 'GOAWAY after the last admitted stream');
  t.same({ reached: upstream.reached, peak: upstream.peak }, { reached: MAX_STREAMS, peak: MAX_STREAMS }, 'at most 256 requests reached the upstream');
  await allClosed(r, upstream);
  t.equal(upstream.aborted, MAX_STREAMS, 'every upstream call of the connection was cancelled');
  t.equal(upstream.release(), MAX_STREAMS, 'they were all held when the connection ended');
  t.equal(await politeGet(r.port), 200, 'a new, well-behaved connection is served');
  await allClosed(r, upstream);
});

/** A response body stopped by backpressure: paused by its pipe, its own buffer full, so nothing more is read from it. */
const stalled = (body: Readable): boolean => body.readableFlowing === false && body.readableLength >= body.readableHighWaterMark;
/** The initial flow-control window of RFC 9113: what a client that never sends WINDOW_UPDATE can be sent, per stream and in all. */
const INITIAL_WINDOW = 65_535;

t.test('256 streams of endless responses to a client that never grants window: the agent stops reading the upstream', async (t) => {
  // 64 KiB chunks, the largest the agent's upstreams hand over (a local workload's socket reads
  // up to 64 KiB; the tunnel, one 16 KiB DATA frame at a time).
  const chunkBytes = 64 * 1024;
  const upstream = new FakeUpstream({ body: 'endless', chunkBytes });
  const keepAliveTimeoutMs = 1_000;
  const r = await rig(t, upstream, { keepAliveTimeoutMs });
  const raw = new RawH2Client(r.port);
  t.teardown(() => raw.destroy());
  await raw.connected();
  raw.write(RawH2Client.hello(), ...ids(MAX_STREAMS).map((id) => RawH2Client.get(id, 'web.demo')));
  // The steady state: the connection window used up, and every body paused with its buffer
  // full. Nothing can leave the agent after that, so nothing more is read from the upstream.
  await waitFor('every response stalled', () => raw.dataBytes === INITIAL_WINDOW && upstream.bodies.length === MAX_STREAMS && upstream.bodies.every(stalled));
  // Per stream the agent holds one chunk written to its HTTP/2 stream and not yet sent, plus
  // the body's own buffer (one chunk): bounded by backpressure. Only the first counts against
  // the session's memory (16 MiB for 256 streams), under the 32 MB budget: this attack never
  // reaches it.
  const bound = MAX_STREAMS * 2 * chunkBytes + INITIAL_WINDOW;
  t.ok(upstream.pulled <= bound, `the agent read ${upstream.pulled} bytes of the responses, at most ${bound} (each is 1 GiB)`);
  t.same({ answered: raw.answered(ids(MAX_STREAMS)).length, resets: raw.resetWith(NGHTTP2_ENHANCE_YOUR_CALM).length, goaways: raw.goaways, error: raw.error }, { answered: MAX_STREAMS, resets: 0, goaways: [], error: undefined }, 'every stream answered, none refused for memory');
  t.equal(await politeGet(r.port), 200, 'a new, well-behaved connection is served');
  // The idle timeout closes the session gracefully: GOAWAY NO_ERROR after the last stream.
  await waitFor('GOAWAY after the idle timeout', () => raw.goaways.length > 0);
  t.same(raw.goaways, [{ lastStreamId: 2 * MAX_STREAMS - 1, errorCode: NGHTTP2_NO_ERROR }]);
  t.equal(upstream.pulled <= bound, true, 'still nothing more read from the upstream');
  // Its streams never end: one more idle period after the GOAWAY, and the session is destroyed
  // with every upstream request it held.
  await waitFor('the connection closed after a second idle period', () => raw.closed);
  await waitFor('every upstream request released', () => upstream.active === 0);
  t.equal(raw.closed, true, 'a client that never grants window does not keep its session');
});

/** The h2 server's maxSessionMemory (32), in bytes: Node counts it in units of 1,000,000. */
const SESSION_BUDGET = 32 * 1_000_000;

t.test('responses queued past the 32 MB session budget: new streams are refused ENHANCE_YOUR_CALM, a client that insists loses the connection', async (t) => {
  // 1 MiB chunks, larger than the agent's real upstreams hand over (see above: 16 to 64 KiB,
  // which keeps 256 stalled streams under the budget): here a few stalled streams hold it all.
  const chunkBytes = 1024 * 1024;
  const upstream = new FakeUpstream({ body: 'endless', chunkBytes });
  const r = await rig(t, upstream);
  const raw = new RawH2Client(r.port);
  t.teardown(() => raw.destroy());
  await raw.connected();
  raw.write(RawH2Client.hello());
  // One stream at a time, each stalled before the next is sent, so the memory in use when a
  // stream arrives does not depend on how the reads were cut. Bounded: the budget is 31 chunks.
  let admitted = 0;
  let refusedAt: number | undefined;
  for (const id of ids(64)) {
    raw.write(RawH2Client.get(id, 'web.demo'));
    await waitFor(`stream ${id} stalled or refused`, () => raw.streams.get(id)?.reset !== undefined || (upstream.bodies.length === admitted + 1 && upstream.bodies.every(stalled)));
    if (raw.streams.get(id)?.reset !== undefined) {
      refusedAt = id;
      break;
    }
    admitted++;
  }
  // Node refuses a new stream while the session's memory (chiefly the response data queued and
  // not yet sent: one chunk per stalled stream) is over the budget: streams are admitted until
  // the queued chunks reach it, and the next one is refused.
  t.equal(admitted, Math.ceil(SESSION_BUDGET / chunkBytes), `streams admitted until ${admitted} MiB were queued`);
  t.same({ refusedAt, code: refusedAt === undefined ? undefined : raw.streams.get(refusedAt)?.reset }, { refusedAt: 2 * admitted + 1, code: NGHTTP2_ENHANCE_YOUR_CALM }, 'the next stream is refused ENHANCE_YOUR_CALM');
  t.same({ reached: upstream.reached, goaways: raw.goaways, closed: raw.closed }, { reached: admitted, goaways: [], closed: false }, 'the refused stream never reached the upstream; the connection lives on');

  // Node ends a session that had more than maxSessionRejectedStreams (100) streams refused in a
  // row: the 102nd refusal fails nghttp2's callback, and Node destroys the session with
  // INTERNAL_ERROR. 150 more streams: 100 more refused, then the end.
  const next = 2 * admitted + 3;
  raw.write(...Array.from({ length: 150 }, (_, i) => RawH2Client.get(next + 2 * i, 'web.demo')));
  await waitFor('the connection closed', () => raw.closed);
  t.equal(raw.resetWith(NGHTTP2_ENHANCE_YOUR_CALM).length, 101, '101 streams refused in a row, then the session ended');
  t.same(raw.goaways.map((g) => g.errorCode), [NGHTTP2_INTERNAL_ERROR], 'GOAWAY INTERNAL_ERROR');
  await allClosed(r, upstream);
  t.same({ reached: upstream.reached, aborted: upstream.aborted }, { reached: admitted, aborted: admitted }, 'the admitted calls were cancelled, no other reached the upstream');
  t.equal(await politeGet(r.port), 200, 'a new, well-behaved connection is served');
  await allClosed(r, upstream);
});
