import t from 'tap';
import { fitWidths, renderFields, renderTable, truncate } from '../../../src/cli/table.js';

t.test('truncate cuts with an ellipsis only when needed', async (t) => {
  t.equal(truncate('abcdef', 6), 'abcdef');
  t.equal(truncate('abcdef', 4), 'abc…');
  t.equal(truncate('abcdef', 1), '…');
  t.equal(truncate('abcdef', 0), '');
});

t.test('columns are aligned with two spaces, trailing spaces trimmed', async (t) => {
  const out = renderTable(['NAME', 'N'], [['a', '1'], ['longer', '22']]);
  t.equal(renderTable(['A', 'B'], []), 'A  B\n', 'headers alone');
  t.equal(out, 'NAME    N\na       1\nlonger  22\n');
});

t.test('a wide table is fitted to 100 columns by shrinking the widest column', async (t) => {
  const long = `spiffe://cluster.local/ns/demo/sa/${'x'.repeat(120)}`;
  const out = renderTable(['ID', 'IDENTITY', 'BYTES'], [['1', long, '12345']]);
  const lines = out.trimEnd().split('\n');
  for (const l of lines) t.ok(l.length <= 100, `line of ${l.length} characters`);
  t.match(lines[1], /^1 {3}spiffe:\/\/cluster\.local\/ns\/demo\/sa\/x+…  12345$/, 'the short columns stay whole; the long cell ends in an ellipsis');
  t.equal(lines[1]?.length, 100);
});

t.test('fitWidths never goes below 3 per column and stops when it cannot fit', async (t) => {
  t.same(fitWidths([50, 50], 40, 2), [19, 19]);
  t.same(fitWidths([10, 10, 10], 5, 2), [3, 3, 3], 'too narrow: minimum widths, loop ends');
  t.same(fitWidths([4, 5], 100, 2), [4, 5], 'fits: unchanged');
  t.same(fitWidths([30, 30], 30, 2, [20, 4]), [20, 8], 'headers are kept whole while the other columns can give');
  t.same(fitWidths([30, 30], 14, 2, [20, 4]), [8, 4], 'then cut below the header when nothing else fits');
});

t.test('renderFields aligns keys', async (t) => {
  t.equal(renderFields([['a', '1'], ['long key', 'two']]), 'a         1\nlong key  two\n');
  t.equal(renderFields([]), '');
});

t.test('attack: more columns than the width holds at two spaces apart: one space, then the lines cut; never wider than the width', async (t) => {
  const headers = ['UID', 'ADDRESSES', 'NODE', 'IDENTITY', 'TLS', 'LOCAL', 'MAX CONN', 'MAX BW', 'MAX SHARE'];
  const row = ['Pod/demo/server', '127.0.0.1', 'node1', 'spiffe://cluster.local/ns/demo/sa/server', 'STRICT', 'yes', '512', '8Mbit/s', '25%'];
  const at40 = renderTable(headers, [row], { maxWidth: 40 }).trimEnd().split('\n');
  t.same(at40.filter((l) => l.length > 40), [], 'every line within 40 columns');
  t.match(at40[0] ?? '', /^UID AD… /, 'one space between columns');
  for (const width of [5, 12, 20, 33, 37]) {
    const lines = renderTable(headers, [row, row], { maxWidth: width }).trimEnd().split('\n');
    t.same(lines.filter((l) => l.length > width), [], `every line within ${width} columns`);
  }
  t.match(renderTable(headers, [row], { maxWidth: 100 }), /^UID {2}/, 'two spaces where the width allows');
});
