/**
 * Round robin through the per-request interface: excluded endpoints (already tried) are stepped
 * over, ejected ones skipped until their ejection ends, all ejected means pick among all (panic),
 * and leases count outstanding requests.
 */
import t from 'tap';
import { RoundRobinBalancer } from '../../../../../src/agent/policy/balancers/round-robin.js';
import { FakeEnv, ep, eps } from './balancer-fixtures.js';
import { endpointKey } from '../../../../../src/agent/policy/balancers/endpoint-table.js';

const k = (n: number): string => endpointKey(ep(n));
const seq = (b: RoundRobinBalancer, n: number, exclude?: ReadonlySet<string>): string[] =>
  Array.from({ length: n }, () => {
    const l = b.pick({ exclude });
    l?.release();
    return l?.endpoint.address.split('.')[3] ?? 'none';
  });

t.test('excluded endpoints are stepped over; all excluded is no pick', async (t) => {
  const rr = new RoundRobinBalancer(eps(1, 2, 3));
  t.same(seq(rr, 4, new Set([k(2)])), ['1', '3', '1', '3']);
  t.same(seq(rr, 1, new Set([k(1), k(2), k(3)])), ['none'], 'every endpoint tried: nothing left');
  t.same(seq(rr, 3), ['1', '2', '3'], 'the rotation goes on');
});

t.test('an ejected endpoint is skipped until its time is up; all ejected picks among all', async (t) => {
  const env = new FakeEnv();
  const rr = new RoundRobinBalancer(eps(1, 2, 3), { env });
  rr.eject(k(2), 1000);
  t.same(seq(rr, 4), ['1', '3', '1', '3']);
  t.same(rr.describe().map((s) => s.ejectedUntilMs), [undefined, 1000, undefined]);
  env.t = 1000;
  t.same(seq(rr, 3), ['1', '2', '3'], 'the ejection ended by itself');
  rr.eject(k(1), 5000);
  rr.eject(k(2), 5000);
  rr.eject(k(3), 5000);
  t.same(seq(rr, 3), ['1', '2', '3'], 'panic: every endpoint ejected, all are used');
  rr.uneject(k(3));
  t.same(seq(rr, 2), ['3', '3'], 'the one healthy endpoint takes everything');
});

t.test('a lease counts as outstanding until released, once', async (t) => {
  const rr = new RoundRobinBalancer(eps(1, 2));
  const a = rr.pick();
  const b = rr.pick();
  t.same(rr.describe().map((s) => s.outstanding), [1, 1]);
  a?.release();
  a?.release();
  t.same(rr.describe().map((s) => s.outstanding), [0, 1], 'a second release does nothing');
  rr.update(eps(1));
  b?.release({ outcome: 'success', latencyMs: 5 });
  t.same(rr.describe().map((s) => s.outstanding), [0], 'a lease on a removed endpoint releases harmlessly');
});
