/** Messages from workers are checked: malformed ones are refused with a reason (and, in the pool, logged and dropped). */
import t from 'tap';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { WorkerPool } from '../../../src/agent/workers/pool.js';
import { parseWorkerMessage } from '../../../src/agent/workers/protocol.js';

const addr = { address: '127.0.0.1', family: 'IPv4', port: 15001 };

t.test('well-formed messages pass', async (t) => {
  for (const m of [
    { type: 'bound', outbound: [addr], inbound: [addr], tunnel: addr },
    { type: 'bind-failed', error: 'EADDRINUSE' },
    { type: 'need-credentials', id: 1, identity: 'spiffe://cluster.local/ns/a/sa/b' },
    { type: 'need-credentials', id: 2, sni: 'abc.id.meshlet' },
    { type: 'answer', id: 3, value: [1, 2] },
    { type: 'answer', id: 4, error: 'nope' },
    { type: 'drained', drained: 3, forced: false },
    { type: 'resync', seq: 4 },
  ]) {
    t.same(parseWorkerMessage(m), m, m.type);
  }
});

t.test('malformed messages are refused with a reason', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /not an object \(null\)/],
    ['bound', /not an object \(string\)/],
    [[1], /not an object \(array\)/],
    [{ type: 'bound', outbound: 'x', inbound: [], tunnel: addr }, /bound: .*malformed/],
    [{ type: 'resync', seq: -1 }, /resync: seq must be a non-negative integer/],
    [{ type: 'resync' }, /resync: seq must be a non-negative integer/],
    [{ type: 'bound', outbound: [], inbound: [], tunnel: { ...addr, port: 70000 } }, /bound: .*malformed/],
    [{ type: 'need-credentials', id: -1, identity: 'a' }, /id must be/],
    [{ type: 'need-credentials', id: 1 }, /exactly one of identity or sni/],
    [{ type: 'need-credentials', id: 1, identity: 'a', sni: 'b' }, /exactly one of identity or sni/],
    [{ type: 'need-credentials', id: 1, identity: 'x'.repeat(10_000) }, /exactly one/],
    [{ type: 'answer', id: 'x' }, /answer: id/],
    [{ type: 'answer', id: 1, error: 42 }, /answer: error/],
    [{ type: 'drained', drained: 'all', forced: false }, /drained:/],
    [{ type: 'bind-failed' }, /bind-failed:/],
    [{ type: 'launch-missiles' }, /unknown message type "launch-missiles"/],
    [{}, /unknown message type/],
  ];
  for (const [m, why] of cases) {
    const r = parseWorkerMessage(m);
    t.type(r, 'string', JSON.stringify(m)?.slice(0, 60) ?? String(m));
    t.match(r, why);
  }
});

t.test('need-credentials: the one name given is a string and the other is absent (found by fuzzing)', async (t) => {
  // worker-pool.ts asks for `identity` whenever it is not undefined: `identity: 0` beside a
  // string `sni` was accepted and reached the credentials lookup as a number.
  for (const m of [
    { type: 'need-credentials', id: 0, identity: 0, sni: '' },
    { type: 'need-credentials', id: 0, identity: null, sni: 'abc.id.meshlet' },
    { type: 'need-credentials', id: 0, identity: 'spiffe://cluster.local/ns/a/sa/b', sni: 5 },
  ]) {
    t.match(parseWorkerMessage(m), /exactly one of identity or sni/, JSON.stringify(m));
  }
  t.same(parseWorkerMessage({ type: 'need-credentials', id: 0, sni: '' }), { type: 'need-credentials', id: 0, sni: '' }, 'an empty sni alone is still a request');
});

t.test('the pool logs and drops a worker\'s malformed messages and carries on', async (t) => {
  const lines: Array<{ msg?: string; problem?: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as { msg?: string });
      cb();
    },
  });
  const pool = new WorkerPool({
    size: 1,
    logger: pino({ level: 'info' }, sink),
    init: () => ({}) as never,
    credentials: async () => undefined,
    onServing: () => undefined,
    onRestart: () => t.fail('no restart'),
    entry: fileURLToPath(new URL('./fake-worker.js', import.meta.url)),
  });
  t.teardown(() => pool.destroy());
  const bound = await pool.start();
  t.equal(bound.tunnel.port, 1, 'the well-formed bound message after the bad ones was taken');
  const bad = lines.filter((l) => l.msg === 'malformed message from a worker: ignored');
  t.equal(bad.length, 6, 'each malformed message logged once');
  t.match(bad.map((l) => l.problem).join('\n'), /unknown message type "launch-missiles"/);
  t.equal(pool.serving, 1, 'the worker still counts as serving');
  const pid = pool.info()[0]?.pid as number;
  await pool.destroy();
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the worker exited');
});
