/**
 * Least request (P2C): fewer requests to a slow endpoint than round robin sends it, weights
 * followed within 2%, the less loaded of two candidates wins, and outstanding counts survive a
 * snapshot for endpoints that stay.
 */
import t from 'tap';
import { LeastRequestBalancer } from '../../../../../src/agent/policy/balancers/least-request.js';
import { RoundRobinBalancer } from '../../../../../src/agent/policy/balancers/round-robin.js';
import { endpointKey } from '../../../../../src/agent/policy/balancers/endpoint-table.js';
import { FakeEnv, countPicks, ep, eps, share, simulate } from './balancer-fixtures.js';

t.test('with no load, picks spread evenly', async (t) => {
  const b = new LeastRequestBalancer(eps(1, 2, 3, 4), { env: new FakeEnv(7) });
  const c = countPicks(b, 40_000);
  t.same(Object.keys(c).sort(), ['198.18.2.1', '198.18.2.2', '198.18.2.3', '198.18.2.4']);
  for (const a of Object.keys(c)) t.ok(Math.abs(share(c, a) - 0.25) < 0.02, `${a}: ${share(c, a)}`);
  t.equal(new LeastRequestBalancer([], { env: new FakeEnv() }).pick(), undefined, 'no endpoint, no pick');
});

t.test('of two candidates the one with fewer outstanding requests wins', async (t) => {
  const b = new LeastRequestBalancer(eps(1, 2), { env: new FakeEnv(3) });
  // Hold 5 leases on e1: every pick now compares e1 (5) with e2 (0).
  const held = [];
  for (let i = 0; i < 5; i++) {
    const l = b.pick({ exclude: new Set([endpointKey(ep(2))]) });
    held.push(l);
  }
  t.same(b.describe().map((s) => s.outstanding), [5, 0]);
  t.same(countPicks(b, 100), { '198.18.2.2': 100 });
  for (const l of held) l?.release();
});

t.test('a slow endpoint gets less traffic than round robin gives it', async (t) => {
  const latencyOf = (a: string): number => (a === '198.18.2.1' ? 100 : 10);
  const opts = { clients: 20, durationMs: 20_000, latencyOf };
  const rrEnv = new FakeEnv(11);
  const rr = simulate(new RoundRobinBalancer(eps(1, 2, 3), { env: rrEnv }), rrEnv, opts);
  const lrEnv = new FakeEnv(11);
  const lr = simulate(new LeastRequestBalancer(eps(1, 2, 3), { env: lrEnv }), lrEnv, opts);
  const rrSlow = share(rr.all, '198.18.2.1');
  const lrSlow = share(lr.all, '198.18.2.1');
  t.ok(rrSlow > 0.3, `round robin gives the slow endpoint its third: ${rrSlow}`);
  t.ok(lrSlow < 0.1, `least request gives it much less: ${lrSlow}`);
  t.ok(lrSlow < rrSlow / 3, `${lrSlow} < ${rrSlow} / 3`);
});

t.test('weights 1:3 are followed within 2% over 100,000 picks', async (t) => {
  const weightOf = (e: { address: string }): number => (e.address === '198.18.2.1' ? 1 : 3);
  const b = new LeastRequestBalancer(eps(1, 2), { env: new FakeEnv(5), weightOf });
  const c = countPicks(b, 100_000);
  const light = share(c, '198.18.2.1');
  t.ok(Math.abs(light - 0.25) < 0.02, `weight 1 of 4: ${light}`);
  // Under load too: equal latency, so outstanding requests (and traffic) settle at 1:3.
  const env = new FakeEnv(9);
  const loaded = simulate(new LeastRequestBalancer(eps(1, 2), { env, weightOf }), env, { clients: 16, durationMs: 10_000, latencyOf: () => 10 });
  const lightLoaded = share(loaded.all, '198.18.2.1');
  t.ok(Math.abs(lightLoaded - 0.25) < 0.02, `under load, weight 1 of 4: ${lightLoaded}`);
});

t.test('outstanding counts survive a snapshot for endpoints that stay', async (t) => {
  const b = new LeastRequestBalancer(eps(1, 2), { env: new FakeEnv() });
  const l1 = b.pick({ exclude: new Set([endpointKey(ep(2))]) });
  const l2 = b.pick({ exclude: new Set([endpointKey(ep(2))]) });
  // A snapshot brings new objects for e1 and e2, and e3.
  b.update(eps(3, 1, 2));
  t.same(b.describe().map((s) => [s.address, s.outstanding]), [['198.18.2.3', 0], ['198.18.2.1', 2], ['198.18.2.2', 0]]);
  l1?.release();
  l2?.release();
  t.same(b.describe().map((s) => s.outstanding), [0, 0, 0]);
});

t.test('more choices: the least loaded of three', async (t) => {
  const b = new LeastRequestBalancer(eps(1, 2, 3), { env: new FakeEnv(2), choiceCount: 3 });
  const c = countPicks(b, 3000);
  t.same(Object.keys(c).sort(), ['198.18.2.1', '198.18.2.2', '198.18.2.3']);
});
