/**
 * A peer that cancels its streams (RST_STREAM CANCEL) while the workload behind them has
 * stopped reading, then goes away: every connection record and upstream socket is released.
 * (Found while writing the stream-limit tests: records stayed and the process spun.)
 *
 * OPEN BUG, so not named *.test.ts (it would fail the suite): run it with
 * `npm run build && npx tap dist/test/integration/agent/tunnel-cancel-stall.repro.js`.
 * Seen: 4 of 5 cancelled streams (RST_STREAM NO_ERROR) leave their record; the stream side
 * closed cleanly, splice had already end()ed the upstream socket, whose write never drains
 * (the workload does not read), and the splice never completes.
 */
import t from 'tap';
import type { ClientHttp2Stream } from 'node:http2';
import { CLIENT_ID, limitsRig, outcome, until } from './tunnel-limits-rig.js';

t.test('cancelled streams to a workload that never reads are released with their sessions', async (t) => {
  const r = await limitsRig(t, { maxStreamsPerPeer: 30 }, 'stall');
  const creds = r.issue(CLIENT_ID);
  const sessions = [r.connect(creds), r.connect(creds)];
  const streams: ClientHttp2Stream[] = sessions.flatMap((s) => Array.from({ length: 25 }, () => r.connectStream(s)));
  const results = await Promise.all(streams.map(outcome));
  const open = streams.filter((_, i) => results[i]?.status === 200);
  t.equal(open.length, 30, 'the cap accepted');
  // Fill some windows first, so the cancelled streams have bytes in flight.
  for (const s of open.slice(0, 5)) s.write(Buffer.alloc(256 * 1024));
  for (const s of open.slice(0, 5)) s.close();
  await until(() => r.tunnel.streamsOf('127.0.0.1') === 25, 'the cancelled streams to be released');
  for (const s of sessions) s.destroy();
  await until(() => r.tunnel.connectionCount === 0 && r.table.size === 0, 'every record released', 30_000).catch((err: Error) => {
    for (const rec of r.table.list()) {
      t.comment(JSON.stringify(rec.ends.map((e) => ({ kind: e.constructor.name, destroyed: e.destroyed, closed: (e as { closed?: boolean }).closed, readableEnded: e.readableEnded, writableFinished: e.writableFinished, writableLength: e.writableLength, rst: (e as { rstCode?: number }).rstCode }))));
    }
    throw err;
  });
  await until(() => r.backend.open.size === 0, 'every upstream socket closed', 30_000);
  t.equal(r.table.size, 0, 'no connection record left');
  t.equal(r.backend.open.size, 0, 'no upstream socket left');
});
