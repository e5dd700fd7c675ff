import t from 'tap';
import { Problems } from '../../../../src/mesh/validate/problems.js';
import {
  checkFields,
  checkName,
  checkWorkloadIp,
  optBool,
  optEnum,
  optInt,
  optIp,
  optLabels,
  optList,
  optMap,
  optPort,
  optString,
  optWorkloadIp,
  reqString,
  requireField,
} from '../../../../src/mesh/validate/readers.js';
import { isDnsLabel } from '../../../../src/mesh/validate/formats.js';

/** Runs `read` against a fresh collector at path `spec`; returns the value and the lines. */
function run<T>(read: (p: Problems) => T): { value: T; lines: string[] } {
  const p = new Problems();
  const value = read(p);
  return { value, lines: p.lines };
}

const at = ['spec'];

t.test('checkFields: unknown keys, with a hint when one is close', async (t) => {
  const { lines } = run((p) => checkFields(p, { nodeName: 'a', nodname: 'b', frob: 1 }, at, ['nodeName', 'containers']));
  t.same(lines, ['spec.nodname: unknown field (did you mean nodeName?)', 'spec.frob: unknown field']);
  t.same(run((p) => checkFields(p, { zone: 1 }, ['nodes', 0], ['name'], true)).lines, ['nodes[0].zone: unknown field (allowed: name)']);
  t.same(run((p) => checkFields(p, { name: 1 }, at, ['name'])).lines, []);
});

t.test('optString / reqString / requireField', async (t) => {
  t.same(run((p) => optString(p, { a: 'x' }, 'a', at)), { value: 'x', lines: [] });
  t.same(run((p) => optString(p, { a: '' }, 'a', at)), { value: undefined, lines: [] }, 'empty counts as absent');
  t.same(run((p) => optString(p, { a: 3 }, 'a', at)), { value: undefined, lines: ['spec.a: must be a string, got 3'] });
  t.same(run((p) => reqString(p, {}, 'a', at)), { value: undefined, lines: ['spec.a: required'] });
  t.same(run((p) => reqString(p, { a: null }, 'a', at, 'is required')), { value: undefined, lines: ['spec.a: is required'] });
  t.same(run((p) => reqString(p, { a: 'v' }, 'a', at)), { value: 'v', lines: [] });
  t.same(run((p) => requireField(p, { a: 0 }, 'a', at)), { value: true, lines: [] }, '0 is present');
});

t.test('optMap / optList', async (t) => {
  t.same(run((p) => optMap(p, { a: { b: 1 } }, 'a', at)), { value: { b: 1 }, lines: [] });
  t.same(run((p) => optMap(p, { a: [1] }, 'a', at)), { value: undefined, lines: ['spec.a: must be a mapping, got a list'] });
  t.same(run((p) => optMap(p, {}, 'a', at)), { value: undefined, lines: [] });
  t.same(run((p) => optList(p, { a: [1, 2] }, 'a', at)), { value: [1, 2], lines: [] });
  t.same(run((p) => optList(p, { a: 'web' }, 'a', at)), { value: [], lines: ['spec.a: must be a list, got "web"'] });
  t.same(run((p) => optList(p, { a: null }, 'a', at)), { value: [], lines: [] });
});

t.test('optBool / optEnum', async (t) => {
  t.same(run((p) => optBool(p, { a: false }, 'a', at)), { value: false, lines: [] });
  t.same(run((p) => optBool(p, { a: 'yes' }, 'a', at)), { value: undefined, lines: ['spec.a: must be true or false, got "yes"'] });
  t.same(run((p) => optEnum(p, { a: 'TCP' }, 'a', at, ['TCP', 'UDP'])), { value: 'TCP', lines: [] });
  t.same(run((p) => optEnum(p, { a: 'tcp' }, 'a', at, ['TCP', 'UDP'])), {
    value: undefined,
    lines: ['spec.a: must be one of TCP, UDP, got "tcp" (did you mean TCP?)'],
  });
  t.same(run((p) => optEnum(p, { a: 'SCTP' }, 'a', at, ['TCP', 'UDP'])).lines, ['spec.a: must be one of TCP, UDP, got "SCTP"']);
});

t.test('optPort / optInt', async (t) => {
  t.same(run((p) => optPort(p, { a: 8080 }, 'a', at)), { value: 8080, lines: [] });
  for (const bad of [0, 65536, 1.5, '80']) {
    t.same(run((p) => optPort(p, { a: bad }, 'a', at)).lines, [`spec.a: must be a port number 1..65535, got ${typeof bad === 'string' ? `"${bad}"` : bad}`]);
  }
  t.same(run((p) => optInt(p, { a: 3 }, 'a', at, 1, 5)), { value: 3, lines: [] });
  t.same(run((p) => optInt(p, { a: 6 }, 'a', at, 1, 5)), { value: undefined, lines: ['spec.a: must be an integer 1..5, got 6'] });
  t.same(run((p) => optInt(p, { a: 2.5 }, 'a', at, 1, 5)).lines, ['spec.a: must be an integer 1..5, got 2.5']);
});

t.test('optIp / optWorkloadIp / checkWorkloadIp', async (t) => {
  t.same(run((p) => optIp(p, { a: '10.0.0.1' }, 'a', at)), { value: '10.0.0.1', lines: [] });
  t.same(run((p) => optIp(p, { a: '10.0.0.999' }, 'a', at)).lines, ['spec.a: must be an IPv4 or IPv6 address, got "10.0.0.999"']);
  t.same(run((p) => optWorkloadIp(p, { a: 'fd00::1' }, 'a', at)), { value: 'fd00::1', lines: [] });
  const loop = run((p) => optWorkloadIp(p, { a: '127.0.0.1' }, 'a', at));
  t.equal(loop.value, undefined);
  t.match(loop.lines, [/^spec\.a: "127\.0\.0\.1" .*; not a workload address$/]);
  t.same(run((p) => checkWorkloadIp(p, '10.1.2.3', ['ip'])), { value: true, lines: [] });
});

t.test('checkName / optLabels', async (t) => {
  t.same(run((p) => checkName(p, 'Web', ['metadata', 'name'], isDnsLabel, 'a DNS label')), {
    value: false,
    lines: ['metadata.name: must be a DNS label, got "Web"'],
  });
  const labels = run((p) => optLabels(p, { labels: { b: '2', a: '1', 'bad key!': 'x', n: 3, v: '-bad-' } }, 'labels', ['metadata']));
  t.same(Object.keys(labels.value), ['a', 'b'], 'good labels, keys sorted');
  t.same(labels.lines, [
    'metadata.labels.bad key!: invalid label key (an optional DNS prefix and "/", then up to 63 letters, digits, "-", "_", ".")',
    'metadata.labels.n: label values must be strings (quote it), got 3',
    'metadata.labels.v: invalid label value "-bad-" (up to 63 letters, digits, "-", "_", ".")',
  ]);
});
