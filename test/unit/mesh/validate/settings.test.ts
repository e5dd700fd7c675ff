import t from 'tap';
import { Problems } from '../../../../src/mesh/validate/problems.js';
import {
  booleanSetting,
  checkSettingNames,
  deepFreeze,
  listSetting,
  numberSetting,
  oneOfSetting,
  optStringSetting,
  portSetting,
  settingLookup,
  stringSetting,
} from '../../../../src/mesh/validate/settings.js';

function run<T>(read: (p: Problems) => T): { value: T; lines: string[] } {
  const p = new Problems();
  const value = read(p);
  return { value, lines: p.lines };
}

t.test('settingLookup: the flag wins, else the environment variable', async (t) => {
  const get = settingLookup({ node: 'flag' }, { MESHLET_NODE: 'env', MESHLET_LOG_LEVEL: 'debug' }, { node: 'MESHLET_NODE', logLevel: 'MESHLET_LOG_LEVEL' });
  t.equal(get('node'), 'flag');
  t.equal(get('logLevel'), 'debug');
  t.equal(get('other'), undefined);
});

t.test('checkSettingNames: unknown options with a hint', async (t) => {
  t.same(run((p) => checkSettingNames(p, { node: 'a', nod: 'b', zzz: 1 }, ['node', 'config'])).lines, [
    'nod="b": unknown option (did you mean node?)',
    'zzz=1: unknown option',
  ]);
});

t.test('stringSetting / optStringSetting', async (t) => {
  t.same(run((p) => stringSetting(p, '--node', undefined)), { value: '', lines: ['--node="": required'] });
  t.same(run((p) => stringSetting(p, '--bind', '', '0.0.0.0')), { value: '0.0.0.0', lines: [] }, 'empty: the default');
  t.same(run((p) => stringSetting(p, '--bind', 5, '0.0.0.0')), { value: '5', lines: ['--bind=5: must be a string'] });
  t.same(run((p) => optStringSetting(p, '--x', '')), { value: undefined, lines: [] });
  t.same(run((p) => optStringSetting(p, '--x', 'v')), { value: 'v', lines: [] });
});

t.test('portSetting: 0..65535 as a number or digits; unset is the default', async (t) => {
  t.same(run((p) => portSetting(p, '--port', '8080', 1)), { value: 8080, lines: [] });
  t.same(run((p) => portSetting(p, '--port', 0, 1)), { value: 0, lines: [] });
  t.same(run((p) => portSetting(p, '--port', undefined, 15001)), { value: 15001, lines: [] });
  t.same(run((p) => portSetting(p, '--port', '', 15001)), { value: 15001, lines: [] });
  for (const bad of ['70000', '-1', '1.5', 'http', '0x10', '1e3', 70000]) {
    t.same(run((p) => portSetting(p, '--port', bad, 1)), { value: 1, lines: [`--port=${JSON.stringify(bad)}: must be a port number 0..65535`] }, String(bad));
  }
  t.same(run((p) => portSetting(p, '--metrics-port', 'x', 1, '(0: any free port)')).lines, ['--metrics-port="x": must be a port number 0..65535 (0: any free port)']);
});

t.test('numberSetting: range, whole numbers, decimal text only', async (t) => {
  const range = { min: 10, max: 100, integer: true, why: 'must be whole seconds 10..100' };
  t.same(run((p) => numberSetting(p, '--ttl', '60', 1, range)), { value: 60, lines: [] });
  t.same(run((p) => numberSetting(p, '--ttl', undefined, 30, range)), { value: 30, lines: [] });
  for (const bad of ['5', '101', '12.5', '1e2', '0x20', '', ' ', 'x', true]) {
    t.same(run((p) => numberSetting(p, '--ttl', bad, 30, range)).lines, [`--ttl=${JSON.stringify(bad)}: must be whole seconds 10..100`], JSON.stringify(bad));
  }
  t.same(run((p) => numberSetting(p, '--drain', '2.5', 20, { min: 0, why: 'x' })), { value: 2.5, lines: [] }, 'fractions when not integer');
});

t.test('oneOfSetting / booleanSetting / listSetting / deepFreeze', async (t) => {
  t.same(run((p) => oneOfSetting(p, '--mode', 'open', ['closed', 'open'], 'closed')), { value: 'open', lines: [] });
  t.same(run((p) => oneOfSetting(p, '--mode', 'ajar', ['closed', 'open'], 'closed')), { value: 'closed', lines: ['--mode="ajar": must be closed or open'] });
  t.same(run((p) => oneOfSetting(p, '--level', 'loud', ['info', 'warn', 'error'], 'info')).lines, ['--level="loud": must be one of info, warn, error']);
  t.same([booleanSetting(undefined, true), booleanSetting(true, false), booleanSetting('yes', true)], [true, true, false]);
  t.same([listSetting(undefined), listSetting('a'), listSetting(['a', 2])], [[], ['a'], ['a', '2']]);
  const frozen = deepFreeze({ a: { b: [1] } });
  t.equal(Object.isFrozen(frozen.a.b), true);
});
