/**
 * The workers' old-space cap as the pool applies it (no worker is forked: the flags are
 * decided when the pool is made): a share of the cgroup limit over the primary and the
 * workers, none without a limit, and a garbled memory.max logged and ignored.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { WorkerPool, type WorkerPoolOptions } from '../../../src/agent/workers/pool.js';

const MIB = 1024 * 1024;

function pool(size: number, memoryMax: string | undefined): { pool: WorkerPool; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const opts: WorkerPoolOptions = {
    size,
    logger: pino({ level: 'info' }, sink),
    init: () => {
      throw new Error('not started in this test');
    },
    credentials: async () => undefined,
    onServing: () => undefined,
    onRestart: () => undefined,
    memoryMax: () => memoryMax,
  };
  return { pool: new WorkerPool(opts), lines };
}

const capOf = (argv: readonly string[]): string[] => argv.filter((a) => a.startsWith('--max-old-space-size'));

t.test('512 MiB, two workers: 128 MiB each, logged', async (t) => {
  const { pool: p, lines } = pool(2, `${512 * MIB}\n`);
  t.same(capOf(p.execArgv), ['--max-old-space-size=128']);
  t.same(lines.map((l) => [l['msg'], l['maxOldSpaceMiB']]), [['old-space cap of each worker sized to the memory limit', 128]]);
});

t.test('no limit ("max" or no cgroup v2): the primary\'s flags alone', async (t) => {
  t.same(capOf(pool(2, 'max').pool.execArgv), []);
  t.same(capOf(pool(2, undefined).pool.execArgv), []);
});

t.test('a garbled memory.max: no cap, a warning naming it', async (t) => {
  const { pool: p, lines } = pool(3, 'twelve');
  t.same(capOf(p.execArgv), []);
  t.same(lines.map((l) => [l['level'], l['problem']]), [[40, 'memory.max is not a byte count or "max": "twelve"']]);
});
