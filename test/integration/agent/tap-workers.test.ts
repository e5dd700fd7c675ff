/**
 * `meshlet tap` with the data path in two worker processes: the primary subscribes the workers
 * while a stream is open, and their events (batched over IPC, checked by parseWorkerMessage)
 * reach the stream, each naming the worker that carried the connection.
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import type { AdminIo } from '../../../src/cli/admin-client.js';
import { tap } from '../../../src/cli/tap-command.js';
import { SERVER_ID, tapRig, tunnelRoundTrip, until } from './tap-rig.js';

t.test('with --workers 2, events from the workers arrive', async (t) => {
  const rig = await tapRig(t, { workers: 2 });
  const pids = rig.agent.workers().map((w) => w.pid as number);
  t.equal(pids.length, 2, 'two workers');
  let out = '';
  const io: AdminIo = { stdout: (s) => void (out += s), stderr: () => undefined, exit: () => undefined };
  const stop = new AbortController();
  const run = tap(io, { admin: rig.admin, adminTokenFile: rig.tokenFile, output: 'json', kind: 'connection', outcome: 'ok' }, stop.signal);
  await until('the tap stream has started', () => out.includes('"tap.start"'));
  const closes = (): Array<Record<string, unknown>> =>
    out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e['type'] === 'connection.close');
  // Each round trip is a tunnel connection of its own, so SO_REUSEPORT spreads them over the
  // workers; a worker may get the subscription a moment after the stream started, so keep going
  // (bounded) until both have reported one.
  const expected = JSON.stringify({ n: 5, sha256: createHash('sha256').update('hello').digest('hex') });
  const workersSeen = (): number => new Set(closes().map((e) => e['worker'])).size;
  const replies = new Set<string>();
  for (let made = 0; made < 60 && workersSeen() < 2; made++) replies.add(await tunnelRoundTrip(rig));
  t.same([...replies], [expected], 'every round trip went through');
  // A worker sends its batch up to 100 ms after the event.
  await until('both workers have reported', () => workersSeen() === 2);
  stop.abort();
  t.equal(await run, 0, 'tap stops when asked');
  const events = closes();
  t.ok(events.length > 0, 'close events arrived');
  t.same([...new Set(events.map((e) => e['worker']))].sort(), [...pids].sort(), 'from both workers, each naming its pid');
  t.same([...new Set(events.map((e) => `${String(e['direction'])} ${String(e['dst_identity'])} ${String(e['outcome'])}`))], [`inbound ${SERVER_ID} ok`], 'inbound connections to the server, ok');
  await until('the workers are unsubscribed', () => rig.adminServer.tap.size === 0);
});
