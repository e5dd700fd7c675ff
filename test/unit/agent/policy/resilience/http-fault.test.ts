/** Fault decisions: header conditions, independent delay and abort draws, the gRPC default. */
import t from 'tap';
import { decideFault, headersMatch, NO_FAULT } from '../../../../../src/agent/policy/resilience/http-fault.js';

const seq = (...values: number[]): (() => number) => {
  let i = 0;
  return () => values[i++ % values.length] as number;
};

t.test('header conditions', async (t) => {
  t.ok(headersMatch([], {}), 'none: every request');
  t.ok(headersMatch([{ name: 'x-a' }], { 'x-a': 'anything' }), 'presence');
  t.notOk(headersMatch([{ name: 'x-a' }], {}));
  t.ok(headersMatch([{ name: 'x-a', value: 'v' }], { 'x-a': ['w', 'v'] }), 'any of several values');
  t.notOk(headersMatch([{ name: 'x-a', value: 'v' }], { 'x-a': 'V' }), 'exact, case-sensitive value');
  t.notOk(headersMatch([{ name: 'x-a' }, { name: 'x-b' }], { 'x-a': '1' }), 'all must hold');
});

t.test('draws', async (t) => {
  const policy = { headers: [], delay: { ms: 100, percent: 50 }, abort: { httpStatus: 418, percent: 10 } };
  t.same(decideFault(policy, {}, seq(0.4, 0.05)), { delayMs: 100, abort: { httpStatus: 418, grpcStatus: 14 } });
  t.same(decideFault(policy, {}, seq(0.6, 0.05)), { delayMs: 0, abort: { httpStatus: 418, grpcStatus: 14 } });
  t.same(decideFault(policy, {}, seq(0.4, 0.5)), { delayMs: 100 });
  t.equal(decideFault(policy, {}, seq(0.9, 0.9)), NO_FAULT);
  t.equal(decideFault(undefined, {}, Math.random), NO_FAULT);
  t.equal(decideFault({ ...policy, headers: [{ name: 'x-f' }] }, {}, () => 0), NO_FAULT, 'headers not matched: no draw');
  t.same(decideFault({ headers: [], abort: { httpStatus: 503, grpcStatus: 8, percent: 100 } }, {}, () => 0.99), { delayMs: 0, abort: { httpStatus: 503, grpcStatus: 8 } });
  t.equal(decideFault({ headers: [], abort: { httpStatus: 503, percent: 0 } }, {}, () => 0), NO_FAULT, '0% never');
});
