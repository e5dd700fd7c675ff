/**
 * The generated proto types are in step with the .proto: regenerating into a temporary
 * directory gives exactly the committed files (a .proto edited without running
 * `node scripts/gen-proto.mjs` fails here).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../../../../scripts/gen-proto.mjs', import.meta.url));
const COMMITTED = fileURLToPath(new URL('../../../../../src/proto/generated/', import.meta.url));

function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

t.test('regenerating the types gives the committed files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-gen-proto-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'generated');
  const run = spawnSync(process.execPath, [SCRIPT, '--out', out], { encoding: 'utf8', timeout: 60_000 });
  t.equal(run.status, 0, `gen-proto ran: ${run.stderr}`);
  const fresh = files(out);
  const committed = files(COMMITTED);
  t.same([...fresh.keys()].sort(), [...committed.keys()].sort(), 'the same files');
  for (const [name, text] of fresh) t.equal(committed.get(name), text, `${name} is up to date (run node scripts/gen-proto.mjs)`);
});
