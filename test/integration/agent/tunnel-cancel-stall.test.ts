/**
 * A peer that cancels its streams (RST_STREAM NO_ERROR) while the workload behind them has
 * stopped reading, then goes away: every connection record and upstream socket is released.
 *
 * The bug this guards: a stream that ended cleanly made splice end() the upstream socket, whose
 * FIN then waited behind bytes the workload never read. When the session went away, splice
 * reset that socket with resetAndDestroy(), which libuv refuses while a shutdown is pending
 * (EINVAL); Node then dropped the handle without closing it, so the fd leaked, 'close' never
 * came, and the record stayed for ever.
 */
import t from 'tap';
import type { ClientHttp2Stream } from 'node:http2';
import { CLIENT_ID, limitsRig, outcome, until } from './tunnel-limits-rig.js';

t.test('cancelled streams to a workload that never reads are released with their sessions', async (t) => {
  const r = await limitsRig(t, { maxStreamsPerPeer: 30 }, 'stall');
  const creds = r.issue(CLIENT_ID);
  const sessions = [r.connect(creds), r.connect(creds)];
  const streams: ClientHttp2Stream[] = sessions.flatMap((s) => Array.from({ length: 15 }, () => r.connectStream(s)));
  const results = await Promise.all(streams.map(outcome));
  t.equal(results.filter((res) => res.status === 200).length, 30, 'every stream was accepted');
  await until(() => r.backend.open.size === 30, 'the 30 upstream connections');
  const ends: string[] = [];
  for (const sock of r.backend.open) {
    sock.on('error', (err: NodeJS.ErrnoException) => ends.push(err.code ?? 'error'));
    sock.on('end', () => {
      ends.push('fin');
      sock.end();
    });
  }
  // Bytes in flight on the first five, then a cancel (Node's close(): END_STREAM after the
  // bytes, then RST_STREAM NO_ERROR). Their upstream sockets get end()ed with a FIN queued
  // behind bytes the workload does not read.
  for (const s of streams.slice(0, 5)) s.write(Buffer.alloc(256 * 1024));
  for (const s of streams.slice(0, 5)) s.close();
  await until(() => r.tunnel.streamsOf('127.0.0.1') === 25, 'the cancelled streams to be released');
  for (const s of sessions) s.destroy();
  await until(() => r.tunnel.connectionCount === 0 && r.table.size === 0, 'every record released', 30_000);
  t.equal(r.table.size, 0, 'no connection record left');
  // The workload starts reading again: each of its sockets must see the agent's side gone (a
  // leaked fd on the agent would keep one open, waiting for more bytes).
  for (const sock of r.backend.open) sock.resume();
  await until(() => r.backend.open.size === 0, 'every upstream socket closed', 30_000).catch((err: Error) => {
    t.comment(`ends so far: ${ends.join(' ')}`);
    throw err;
  });
  t.equal(r.backend.open.size, 0, 'no upstream socket left');
  t.equal(ends.length, 30, 'every workload socket saw its end');
  // The peer went away with the response halves still open, so each one is reset; a FIN may
  // come first where the request half had ended cleanly and its bytes were all delivered.
  t.equal(ends.filter((e) => e === 'ECONNRESET').length >= 25, true, `the idle streams' sockets were reset (${ends.join(' ')})`);
});
