/**
 * One validation toolkit (house style: "one of each helper"): the problem collector, the
 * plain-object test, the "did you mean" hint and its edit distance live in src/mesh/validate/
 * only. Six parsers once had six hand-written copies with six message styles; this test fails
 * when a seventh creeps back, naming the file and what to import instead.
 */
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../../../src/', import.meta.url));
const TOOLKIT = 'mesh/validate/';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return e.endsWith('.ts') ? [p] : [];
  });
}

/** What may be defined only in the toolkit, and what to use instead. */
const FORBIDDEN: ReadonlyArray<{ pattern: RegExp; use: string }> = [
  { pattern: /\bfunction\s+(editDistance|levenshtein)\b/i, use: 'didYouMean (mesh/validate/values.ts)' },
  { pattern: /\bfunction\s+didYouMean\b/, use: 'didYouMean (mesh/validate/values.ts)' },
  { pattern: /\bfunction\s+(isObj|isObject|isRecord|isPlainObject|isFields)\b/, use: 'isFields (mesh/validate/values.ts)' },
  // A parser may specialise the collector (snapshot-wire's WireProblems adds a check cache),
  // but not write another one.
  { pattern: /\bclass\s+\w*Problems\b(?!\s+extends\s+Problems\b)/, use: 'Problems (mesh/validate/problems.ts)' },
];

/** Every toolkit-only definition found outside the toolkit, as `file: pattern`. */
export function strayDefinitions(files: readonly { name: string; text: string }[]): string[] {
  const out: string[] = [];
  for (const { name, text } of files) {
    if (name.startsWith(TOOLKIT)) continue;
    for (const { pattern, use } of FORBIDDEN) {
      const m = pattern.exec(text);
      if (m !== null) out.push(`${name}: defines "${m[0]}"; use ${use}`);
    }
  }
  return out;
}

const files = sourceFiles(SRC).map((f) => ({ name: relative(SRC, f).split('\\').join('/'), text: readFileSync(f, 'utf8') }));

t.test('the source tree is read (a test over no files proves nothing)', async (t) => {
  t.ok(files.length > 100, `${files.length} files under src/`);
  t.ok(files.some((f) => f.name === 'mesh/validate/values.ts'), 'the toolkit is among them');
});

t.test('no validation toolkit outside src/mesh/validate/', async (t) => {
  t.same(strayDefinitions(files), []);
});

t.test('the check catches each kind of copy, and allows a specialised collector', async (t) => {
  const probe = (text: string): string[] => strayDefinitions([{ name: 'lab/x.ts', text }]);
  t.equal(probe('function editDistance(a: string, b: string) {}').length, 1);
  t.equal(probe('export function didYouMean(n: string) {}').length, 1);
  t.equal(probe('function isObj(v: unknown) {}').length, 1);
  t.equal(probe('function isRecord(v: unknown) {}').length, 1);
  t.equal(probe('class Problems {}').length, 1);
  t.equal(probe('class ConfigProblems {\n}').length, 1);
  t.same(probe('export class WireProblems extends Problems {}'), []);
  t.same(probe('import { didYouMean } from "../mesh/validate/values.js"; didYouMean(a, b);'), []);
  t.same(strayDefinitions([{ name: 'mesh/validate/values.ts', text: 'function editDistance() {}' }]), [], 'the toolkit itself');
});
