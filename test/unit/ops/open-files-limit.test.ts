/** Reading the open-files soft limit from a `/proc/<pid>/limits` text. */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFilesLimit, parseOpenFilesLimit } from '../../../src/ops/open-files-limit.js';

const LIMITS = [
  'Limit                     Soft Limit           Hard Limit           Units     ',
  'Max cpu time              unlimited            unlimited            seconds   ',
  'Max open files            1048576              1048576              files     ',
  'Max locked memory         8388608              8388608              bytes     ',
  '',
].join('\n');

t.test('the soft limit of the "Max open files" line', async (t) => {
  t.equal(parseOpenFilesLimit(LIMITS), 1_048_576);
  t.equal(parseOpenFilesLimit(LIMITS.replace('1048576              1048576', '1024                 524288')), 1024, 'soft, not hard');
});

t.test('unlimited, absent or garbled: undefined', async (t) => {
  t.equal(parseOpenFilesLimit(LIMITS.replace('1048576              1048576', 'unlimited            unlimited')), undefined);
  t.equal(parseOpenFilesLimit('Limit Soft Hard\n'), undefined);
  t.equal(parseOpenFilesLimit('Max open files            0    0   files\n'), undefined);
});

t.test('openFilesLimit reads a file, and is undefined when it cannot', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `meshlet-limits-${process.pid}-`));
  const file = join(dir, 'limits');
  writeFileSync(file, LIMITS);
  t.equal(openFilesLimit(file), 1_048_576);
  t.equal(openFilesLimit(join(dir, 'missing')), undefined);
});
