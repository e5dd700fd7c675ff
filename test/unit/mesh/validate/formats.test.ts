import t from 'tap';
import {
  isBoundedString,
  isCount,
  isDns1035Label,
  isDnsLabel,
  isDnsSubdomain,
  isIanaSvcName,
  isIpAddress,
  isLabelKey,
  isLabelValue,
  isPortNumber,
} from '../../../../src/mesh/validate/formats.js';

t.test('Kubernetes names', async (t) => {
  t.same(['web', 'a-1', '1a', 'A', '-a', 'a-', 'a'.repeat(64)].map(isDnsLabel), [true, true, true, false, false, false, false]);
  t.same(['web', '1a', 'a-b'].map(isDns1035Label), [true, false, true]);
  t.same(['a.b.c', 'node-1.example', 'a..b', '.a', 'a'.repeat(254)].map(isDnsSubdomain), [true, true, false, false, false]);
  t.same(['http', 'h2c', '80', 'a--b', 'a'.repeat(16), 'web-'].map(isIanaSvcName), [true, true, false, false, false, false]);
  t.same(['app', 'meshlet.io/mesh', 'Bad.Prefix/x', 'a/b/c', '/x'].map(isLabelKey), [true, true, false, false, false]);
  t.same(['', 'v1', 'a_b.c', '-x', 'x'.repeat(64)].map(isLabelValue), [true, true, true, false, false]);
});

t.test('numbers, strings and addresses', async (t) => {
  t.same([1, 65535, 0, 65536, 1.5, '80', Number.NaN].map(isPortNumber), [true, true, false, false, false, false, false]);
  t.same([0, 7, -1, 1.5, '3', 2 ** 53].map(isCount), [true, true, false, false, false, false]);
  t.same([isBoundedString('abc', 3), isBoundedString('abcd', 3), isBoundedString(3, 10)], [true, false, false]);
  t.same(['10.0.0.1', '::1', 'fd00::1', '10.0.0.999', 'host'].map(isIpAddress), [true, true, true, false, false]);
});
