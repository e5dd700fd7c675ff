import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, MeshletError, isMeshletError, isNormalDisconnect } from '../../../src/mesh/errors.js';

const docsPath = fileURLToPath(new URL('../../../../docs/errors.md', import.meta.url));

t.test('every error code is documented in docs/errors.md', async (t) => {
  const docs = readFileSync(docsPath, 'utf8');
  for (const code of Object.keys(ERROR_CODES)) {
    t.match(docs, new RegExp(`\\b${code}\\b`), `${code} documented`);
  }
  const documented = [...docs.matchAll(/\bMESHLET_ERR_[A-Z0-9_]+\b/g)].map((m) => m[0]);
  for (const code of documented) {
    t.ok(code in ERROR_CODES, `${code} in docs exists in code`);
  }
});

const srcDir = fileURLToPath(new URL('../../../../src', import.meta.url));

/** Every `.ts` file under `dir`, recursively. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

t.test('every error code is raised or logged somewhere in src (a documented code nobody uses is dead)', async (t) => {
  const files = sourceFiles(srcDir).filter((f) => !f.endsWith(join('mesh', 'errors.ts')));
  t.ok(files.length > 50, `found ${files.length} source files`);
  const text = files.map((f) => readFileSync(f, 'utf8')).join('\n');
  const unused = Object.keys(ERROR_CODES).filter((code) => !text.includes(`'${code}'`));
  t.same(unused, []);
});

t.test('MeshletError carries code, cause and details', async (t) => {
  const cause = new Error('inner');
  const err = new MeshletError('MESHLET_ERR_CONFIG_INVALID', 'bad', { cause, details: ['a: b'] });
  t.equal(err.code, 'MESHLET_ERR_CONFIG_INVALID');
  t.equal(err.cause, cause);
  t.same(err.details, ['a: b']);
  t.ok(isMeshletError(err));
  t.ok(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'));
  t.notOk(isMeshletError(err, 'MESHLET_ERR_CA'));
  t.notOk(isMeshletError(cause));
});

t.test('normal disconnects are recognised', async (t) => {
  t.ok(isNormalDisconnect(Object.assign(new Error('x'), { code: 'ECONNRESET' })));
  t.ok(isNormalDisconnect(Object.assign(new Error('x'), { code: 'EPIPE' })));
  t.notOk(isNormalDisconnect(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })));
  t.notOk(isNormalDisconnect(null));
});
