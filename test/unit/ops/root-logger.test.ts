import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { bufferedStdout, createRootLogger } from '../../../src/ops/root-logger.js';

const dir = mkdtempSync(join(tmpdir(), 'meshlet-root-logger-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function until(check: () => boolean, ms = 5_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}

t.test('lines are written in the background, in order and whole', async (t) => {
  const file = join(dir, 'out.log');
  const fd = openSync(file, 'w');
  const logger = createRootLogger('info', { node: 'n1' }, bufferedStdout(fd));
  logger.info({ n: -1 }, 'first');
  const lines = (): string[] => readFileSync(file, 'utf8').split('\n').filter(Boolean);
  t.ok(await until(() => lines().length === 1), 'a lone line is written without waiting for more');
  for (let n = 0; n < 2_000; n++) logger.info({ n, pad: 'x'.repeat(n % 50) }, 'line');
  t.ok(await until(() => lines().length === 2_001), 'every line arrives');
  const parsed = lines().map((l) => JSON.parse(l) as { n: number; node: string; level: string; msg: string });
  t.same(parsed.map((p) => p.n), [-1, ...Array.from({ length: 2_000 }, (_, i) => i)], 'in order, none cut');
  t.match(parsed[0], { node: 'n1', level: 'info', msg: 'first' });
  closeSync(fd);
});

t.test('a log reader that stops reading: memory is bounded, lines are dropped and counted, the loss is said when it reads again', async (t) => {
  const fifo = join(dir, 'stalled');
  execFileSync('mkfifo', [fifo]);
  // Both ends held here, non-blocking: nobody reads until the test does, as a stuck log shipper.
  const writer = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const dest = bufferedStdout(writer, { maxPendingBytes: 256 * 1024 });
  const logger = createRootLogger('info', {}, dest);
  const line = 'y'.repeat(900);
  for (let n = 0; n < 2_000; n++) logger.info({ n, line }, 'request completed');
  t.ok(dest.dropped.lines > 0, `lines beyond the bound were dropped (${dest.dropped.lines})`);
  t.ok(dest.dropped.bytes >= dest.dropped.lines * 900, 'their bytes counted');
  // The reader catches up: everything kept arrives, whole, then the loss is reported.
  let text = '';
  const buf = Buffer.alloc(1 << 16);
  const drain = (): void => {
    for (;;) {
      try {
        const n = readSync(reader, buf);
        if (n <= 0) return;
        text += buf.subarray(0, n).toString('utf8');
      } catch {
        return;
      }
    }
  };
  t.ok(
    await until(() => {
      drain();
      return text.includes('log lines dropped');
    }, 15_000),
    'a warning names the loss once the reader reads again',
  );
  const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const kept = lines.filter((l) => l['msg'] === 'request completed');
  t.ok(kept.length > 0, `some lines kept (${kept.length}), none cut`);
  t.ok(kept.length < 2_000, `not all kept: some were dropped (${kept.length} kept)`);
  const warning = lines.find((l) => l['msg'] === 'log lines dropped: stdout was not read fast enough');
  t.equal((warning?.['droppedLines'] as number) + kept.length, 2_000, 'kept + dropped = written');
  closeSync(reader);
  closeSync(writer);
});

t.test('what is pending when the process exits is written: process.exit right after logging loses nothing', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const logger = fileURLToPath(new URL('../../../src/ops/root-logger.js', import.meta.url));
  const script = `import { createRootLogger } from ${JSON.stringify(logger)};
const log = createRootLogger('info');
for (let n = 0; n < 5000; n++) log.info({ n, pad: 'p'.repeat(200) }, 'line');
log.fatal('bye');
process.exit(3);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  t.equal(r.status, 3);
  const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { n?: number; msg: string });
  t.equal(lines.length, 5001, 'every line, the last one included');
  t.equal(lines.at(-1)?.msg, 'bye');
});
