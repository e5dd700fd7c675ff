/**
 * The page's files as `/ui` serves them: every script is an ES module that parses, every path
 * a script names is a file of the page or an admin endpoint of the page's list, nothing comes
 * from another origin, and no script builds markup from text.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UI_ASSETS, UI_SCRIPTS } from '../../../../../src/agent/admin/ui/ui-assets.js';
import { UI_DATA_PATHS } from '../../../../../src/agent/admin/ui/ui-data-paths.js';

const dataPaths = new Set<string>(Object.values(UI_DATA_PATHS));

/** The string literals of a script that start with '/' (both quote styles). */
function pathLiterals(text: string): string[] {
  return [...text.matchAll(/(['"])(\/[^'"\s]*)\1/g)].map((m) => m[2] as string);
}

t.test('every script is an ES module that parses', async (t) => {
  t.ok(UI_SCRIPTS.size >= 6, `${UI_SCRIPTS.size} scripts`);
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-ui-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [path, text] of UI_SCRIPTS) {
    const file = join(dir, `${path.split('/').pop() ?? 'x'}.mjs`);
    writeFileSync(file, text);
    const res = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 30_000 });
    t.equal(res.status, 0, `${path} parses: ${res.stderr}`);
  }
});

t.test('every path a script names is a file of the page or one of its data endpoints', async (t) => {
  const named = [...UI_SCRIPTS.values()].flatMap(pathLiterals);
  t.ok(named.length > 0, 'the scripts name paths');
  for (const p of named) t.ok(UI_ASSETS.has(p) || dataPaths.has(p), `${p} is served`);
  const imports = [...UI_SCRIPTS.values()].flatMap((text) => [...text.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1] as string));
  t.ok(imports.length > 0, 'the scripts import each other');
  for (const p of imports) t.ok(UI_SCRIPTS.has(p), `import ${p} is a script of the page`);
  const api = UI_SCRIPTS.get('/ui/api.js') ?? '';
  for (const p of dataPaths) t.ok(pathLiterals(api).includes(p), `api.js knows ${p}`);
  for (const [path, text] of UI_SCRIPTS) {
    if (path === '/ui/api.js') continue;
    t.notMatch(text, /\bfetch\(/, `${path} fetches nothing itself (api.js does, with the token)`);
  }
});

t.test('the HTML loads only files of the page', async (t) => {
  const html = UI_ASSETS.get('/ui')?.body.toString('utf8') ?? '';
  const refs = [...html.matchAll(/\s(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
  t.same(refs.sort(), ['/ui/app.js', '/ui/style.css', 'data:,'], 'its script and style, and an empty icon (no /favicon.ico request)');
  for (const ref of refs.filter((r) => !r.startsWith('data:'))) t.ok(UI_ASSETS.has(ref), `${ref} is served`);
  t.equal(UI_ASSETS.get('/ui/'), UI_ASSETS.get('/ui'), '/ui/ is the page too');
});

t.test('nothing from the internet, no inline code, no markup from text', async (t) => {
  t.ok(UI_ASSETS.size >= 8, `${UI_ASSETS.size} files`);
  for (const [path, asset] of UI_ASSETS) {
    const text = asset.body.toString('utf8');
    // The SVG namespace is an identifier, never fetched.
    t.notMatch(text.replaceAll('http://www.w3.org/2000/svg', ''), /https?:\/\//, `${path}: no absolute URL`);
    t.notMatch(text, /@import|url\(/, `${path}: no CSS import or url()`);
  }
  const html = UI_ASSETS.get('/ui')?.body.toString('utf8') ?? '';
  t.notMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/, 'no inline script');
  t.notMatch(html, /\sstyle=|<style/, 'no inline style');
  t.notMatch(html, /\son[a-z]+=/, 'no inline event handler');
  for (const [path, text] of UI_SCRIPTS) {
    t.notMatch(text, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/, `${path} builds no markup from text`);
    t.notMatch(text, /localStorage|document\.cookie/, `${path} keeps the token in this tab only`);
  }
});
