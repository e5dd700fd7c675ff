/**
 * Issue 9 finding 3, in-process on loopback: a session cannot open more than
 * MAX_CONCURRENT_STREAMS streams, a peer address cannot hold more than its stream cap over all
 * its sessions (so the agent opens no more upstream sockets for it), and streams to a backend
 * that never reads hold at most their stream window each.
 */
import t from 'tap';
import { constants as h2, type ClientHttp2Stream } from 'node:http2';
import { CLIENT_ID, limitsRig, outcome, until } from './tunnel-limits-rig.js';
import { MAX_CONCURRENT_STREAMS, SESSION_RECEIVE_BOUND_BYTES, STREAM_WINDOW_BYTES } from '../../../src/agent/proxy/tunnel/settings.js';

t.test('the stream limits are what the documented bound says', async (t) => {
  t.equal(MAX_CONCURRENT_STREAMS, 100);
  t.equal(STREAM_WINDOW_BYTES, 512 * 1024);
  t.equal(SESSION_RECEIVE_BOUND_BYTES, 50 * 1024 * 1024, 'a session can make us hold 50 MiB at most');
});

t.test('a session opening more streams than allowed gets the excess refused, and no more upstream sockets', async (t) => {
  const r = await limitsRig(t, {}, 'stall');
  const EXTRA = 50;
  // A client that does not wait for our SETTINGS: it sends all its HEADERS at once.
  const session = r.connect(r.issue(CLIENT_ID), { peerMaxConcurrentStreams: 10_000 });
  const streams: ClientHttp2Stream[] = [];
  for (let i = 0; i < MAX_CONCURRENT_STREAMS + EXTRA; i++) streams.push(r.connectStream(session));
  const results = await Promise.all(streams.map(outcome));
  const ok = results.filter((x) => x.status === 200).length;
  const refused = results.filter((x) => x.status === undefined).length;
  t.ok(ok <= MAX_CONCURRENT_STREAMS, `${ok} streams accepted, at most ${MAX_CONCURRENT_STREAMS}`);
  t.ok(refused >= EXTRA, `${refused} streams refused`);
  t.equal(ok + refused, streams.length, 'every stream was answered or refused');
  await until(() => r.backend.accepted >= ok, 'the accepted streams to reach the backend');
  t.ok(r.backend.accepted <= MAX_CONCURRENT_STREAMS, `${r.backend.accepted} upstream sockets, at most ${MAX_CONCURRENT_STREAMS}`);
});

t.test('a peer address holds at most its stream cap over all its sessions', async (t) => {
  const CAP = 30;
  // The digest backend holds each connection until the client half-closes it.
  const r = await limitsRig(t, { maxStreamsPerPeer: CAP });
  const creds = r.issue(CLIENT_ID);
  const sessions = [r.connect(creds), r.connect(creds)];
  const streams = sessions.flatMap((s) => Array.from({ length: 25 }, () => r.connectStream(s)));
  const results = await Promise.all(streams.map(outcome));
  t.equal(results.filter((x) => x.status === 200).length, CAP, 'exactly the cap accepted');
  t.same(
    results.filter((x) => x.status === undefined).map((x) => x.rstCode),
    Array.from({ length: 50 - CAP }, () => h2.NGHTTP2_REFUSED_STREAM),
    'the rest refused with REFUSED_STREAM',
  );
  await until(() => r.backend.accepted === CAP, 'the accepted streams to reach the backend');
  t.equal(r.tunnel.streamsOf('127.0.0.1'), CAP, 'the peer holds its cap');
  t.equal(r.limitCounts.get('peer_stream_limit'), 50 - CAP, 'each refusal counted');
  // Closing streams frees room for new ones.
  const open = streams.filter((_, i) => results[i]?.status === 200);
  for (const s of open.slice(0, 5)) {
    s.resume();
    s.end();
  }
  await until(() => r.tunnel.streamsOf('127.0.0.1') === CAP - 5, 'the closed streams to be released');
  const again = await outcome(r.connectStream(sessions[0]!));
  t.equal(again.status, 200, 'a new stream fits again');
  t.equal(r.backend.accepted, CAP + 1, 'and only then another upstream socket');
  for (const s of sessions) s.destroy();
  await until(() => r.tunnel.connectionCount === 0 && r.table.size === 0, 'the server to release the sessions and their connections');
  t.equal(r.tunnel.streamsOf('127.0.0.1'), 0, 'no stream counted for the peer once its sessions are gone');
});

/** What the server holds for its tunnel connections: stream read buffers and upstream write buffers. */
function serverBuffered(r: Awaited<ReturnType<typeof limitsRig>>): number {
  let n = 0;
  for (const rec of r.table.list()) for (const end of rec.ends) n += end.readableLength + end.writableLength;
  return n;
}

t.test('streams to a backend that never reads hold at most their window each', async (t) => {
  const r = await limitsRig(t, {}, 'stall');
  const STREAMS = 16;
  // A ceiling, well above what the kernel's socket buffers on loopback absorb (~10 MiB per
  // connection): the writers must be stopped by flow control long before it.
  const PER_STREAM = 32 * 1024 * 1024;
  const session = r.connect(r.issue(CLIENT_ID));
  const streams = Array.from({ length: STREAMS }, () => r.connectStream(session));
  t.same((await Promise.all(streams.map(outcome))).map((x) => x.status), streams.map(() => 200), 'all streams open');
  const chunk = Buffer.alloc(64 * 1024, 7);
  // Each writer pushes up to PER_STREAM with back-pressure: it stops when the tunnel stops taking bytes.
  const written = streams.map(() => 0);
  const stalled = streams.map(() => false);
  const writers = streams.map(async (s, i) => {
    while ((written[i] ?? 0) < PER_STREAM && !s.destroyed) {
      written[i] = (written[i] ?? 0) + chunk.length;
      if (!s.write(chunk)) {
        const drained = await Promise.race([new Promise((res) => s.once('drain', () => res(true))), new Promise((res) => setTimeout(() => res(false), 2_000))]);
        if (drained === false) {
          stalled[i] = true;
          return;
        }
      }
    }
  });
  await Promise.all(writers);
  // Let what is in flight land, then read the server's buffers once they stop growing.
  let last = -1;
  let buffered = serverBuffered(r);
  for (let i = 0; i < 50 && buffered !== last; i++) {
    last = buffered;
    await new Promise((res) => setTimeout(res, 200));
    buffered = serverBuffered(r);
  }
  // The documented bound, written out (not derived from the constant under test): a 512 KiB
  // window per stream, plus what the upstream socket's write queue may hold.
  const bound = STREAMS * (512 * 1024 + 128 * 1024);
  t.ok(buffered > 0, `the server holds something (${buffered} bytes)`);
  t.ok(buffered <= bound, `the server holds ${(buffered / 1048576).toFixed(1)} MiB for ${STREAMS} stalled streams, at most ${(bound / 1048576).toFixed(1)} MiB`);
  t.same(stalled, streams.map(() => true), 'every writer was held back by flow control');
  t.ok(written.every((w) => w < PER_STREAM), `no writer reached the ceiling (max ${Math.max(...written)} bytes)`);
  // The peer goes away: the server lets go of the session and every connection of it.
  session.destroy();
  await until(() => r.tunnel.sessionCount === 0 && r.tunnel.connectionCount === 0 && r.table.size === 0, 'the server to release the session and its connections');
  t.equal(r.tunnel.streamsOf('127.0.0.1'), 0, 'no stream counted for the peer');
});
