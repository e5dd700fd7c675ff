import t from 'tap';
import { didYouMean, formatPath, formatValue, isFields, isMissing, unknownNameMessage } from '../../../../src/mesh/validate/values.js';

t.test('isFields: plain mappings only', async (t) => {
  t.equal(isFields({}), true);
  t.equal(isFields({ a: 1 }), true);
  t.equal(isFields(Object.create(null)), true);
  t.equal(isFields([]), false);
  t.equal(isFields(null), false);
  t.equal(isFields('a'), false);
  t.equal(isFields(undefined), false);
});

t.test('isMissing: absent, null and the empty string', async (t) => {
  t.same([undefined, null, '', 0, false, 'x'].map(isMissing), [true, true, true, false, false, false]);
});

t.test('formatValue: strings quoted, collections by shape, long values cut', async (t) => {
  t.equal(formatValue('web'), '"web"');
  t.equal(formatValue(7), '7');
  t.equal(formatValue(true), 'true');
  t.equal(formatValue(null), 'null');
  t.equal(formatValue(undefined), 'null');
  t.equal(formatValue([1]), 'a list');
  t.equal(formatValue({ a: 1 }), 'a mapping');
  const long = formatValue('x'.repeat(500));
  t.equal(long, `"${'x'.repeat(59)}...`, 'at most 60 characters and an ellipsis');
});

t.test('formatPath: dots between names, brackets around indexes', async (t) => {
  t.equal(formatPath(['spec', 'ports', 1, 'targetPort']), 'spec.ports[1].targetPort');
  t.equal(formatPath(['pods', 0]), 'pods[0]');
  t.equal(formatPath([]), '');
});

t.test('didYouMean: one edit for short names, two for longer ones, case ignored', async (t) => {
  const allowed = ['nodeName', 'containers', 'port', 'name'];
  t.equal(didYouMean('nodname', allowed), 'nodeName', 'one deletion');
  t.equal(didYouMean('NodeNmae', allowed), 'nodeName', 'a transposition is two edits; case is ignored');
  t.equal(didYouMean('contaners', allowed), 'containers');
  t.equal(didYouMean('prot', allowed), undefined, 'a 4-letter name two edits away gets no hint');
  t.equal(didYouMean('pot', allowed), 'port', 'a 3-letter name one edit away does');
  t.equal(didYouMean('nodeNameXYZ', allowed), undefined, 'three edits: too far');
  t.equal(didYouMean('frobnicate', allowed), undefined);
  t.equal(didYouMean('x'.repeat(10_000), ['x'.repeat(9_999)]), undefined, 'a huge name is not a typo (and costs no length² table)');
  t.equal(didYouMean('a', []), undefined, 'nothing allowed, no hint');
});

t.test('unknownNameMessage: the hint, or the allowed names when asked', async (t) => {
  t.equal(unknownNameMessage('nodname', ['nodeName']), 'unknown field (did you mean nodeName?)');
  t.equal(unknownNameMessage('zone', ['name']), 'unknown field');
  t.equal(unknownNameMessage('zone', ['name', 'labels'], 'field', true), 'unknown field (allowed: name, labels)');
  t.equal(unknownNameMessage('tunelPort', ['tunnelPort'], 'option'), 'unknown option (did you mean tunnelPort?)');
});
