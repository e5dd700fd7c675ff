/**
 * A `--import` preload for tests: when `MESHLET_LOAD_RECORD_DIR` is set, each process that
 * loads it (the agent and, through the execArgv it passes on, every data-path worker) records
 * the modules it loads: ESM URLs as they resolve (a loader hook, `load-recorder-hooks.ts`) into
 * `<dir>/<pid>.esm`, and at exit the CommonJS module cache (files `require`d by CommonJS
 * packages, which no ESM hook sees) into `<dir>/<pid>.cjs`. Nothing in `src/` knows of it.
 */
import { writeFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { join } from 'node:path';

const dir = process.env['MESHLET_LOAD_RECORD_DIR'];
if (dir !== undefined && dir !== '') {
  register(new URL('./load-recorder-hooks.js', import.meta.url), { data: { file: join(dir, `${process.pid}.esm`) } });
  const cache = createRequire(import.meta.url).cache;
  process.on('exit', () => writeFileSync(join(dir, `${process.pid}.cjs`), Object.keys(cache).join('\n') + '\n'));
}
