/**
 * Invariants of every balancer under random sequences of picks (with random exclude sets and hash
 * keys), releases, ejections, clock moves and snapshots (fast-check, fixed seed): a pick never
 * returns an excluded endpoint or one outside the current set, returns nothing only when every
 * endpoint is excluded, prefers a healthy endpoint whenever one is allowed, and the outstanding
 * counts equal the leases not yet released (those on endpoints that left do not come back).
 */
import t from 'tap';
import fc from 'fast-check';
import { ALGORITHMS, createBalancer } from '../../../../../src/agent/policy/balancers/create-balancer.js';
import { endpointKey } from '../../../../../src/agent/policy/balancers/endpoint-table.js';
import type { Lease } from '../../../../../src/agent/policy/balancers/tracked-balancer.js';
import { FakeEnv, ep, eps } from './balancer-fixtures.js';

type Op =
  | { op: 'pick'; exclude: number[]; key: number | null }
  | { op: 'release'; at: number; latency: number }
  | { op: 'eject'; n: number; forMs: number }
  | { op: 'tick'; ms: number }
  | { op: 'update'; set: number[] };

const n = fc.integer({ min: 1, max: 8 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('pick' as const), exclude: fc.array(n, { maxLength: 4 }), key: fc.option(fc.integer({ min: 0, max: 50 })) }),
  fc.record({ op: fc.constant('release' as const), at: fc.nat(), latency: fc.integer({ min: 0, max: 500 }) }),
  fc.record({ op: fc.constant('eject' as const), n, forMs: fc.integer({ min: 1, max: 2000 }) }),
  fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 1000 }) }),
  fc.record({ op: fc.constant('update' as const), set: fc.uniqueArray(n, { maxLength: 8 }) }),
);

for (const algorithm of ALGORITHMS) {
  t.test(`${algorithm}: invariants under random operations`, async (t) => {
    let checked = 0;
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
        const env = new FakeEnv(5);
        let set = [1, 2, 3, 4];
        const ejected = new Map<string, number>();
        const b = createBalancer({ algorithm, maglevTableSize: 251 }, eps(...set), { env });
        const held: Lease[] = [];
        // Leases on endpoints that left: an endpoint that comes back starts afresh without them.
        const detached = new Set<Lease>();
        for (const o of ops) {
          if (o.op === 'pick') {
            const exclude = new Set(o.exclude.map((x) => endpointKey(ep(x))));
            const lease = b.pick({ exclude, hashKey: o.key === null ? undefined : `k${o.key}` });
            const allowed = set.filter((x) => !exclude.has(endpointKey(ep(x))));
            if (allowed.length === 0) {
              if (lease !== undefined) return false;
              continue;
            }
            if (lease === undefined || exclude.has(lease.key) || !allowed.some((x) => endpointKey(ep(x)) === lease.key)) return false;
            const healthy = allowed.filter((x) => (ejected.get(endpointKey(ep(x))) ?? 0) <= env.t);
            if (healthy.length > 0 && (ejected.get(lease.key) ?? 0) > env.t) return false;
            held.push(lease);
            checked++;
          } else if (o.op === 'release' && held.length > 0) {
            held.splice(o.at % held.length, 1)[0]?.release({ outcome: 'success', latencyMs: o.latency });
          } else if (o.op === 'eject') {
            const until = env.t + o.forMs;
            b.eject(endpointKey(ep(o.n)), until);
            if (set.includes(o.n)) ejected.set(endpointKey(ep(o.n)), until);
          } else if (o.op === 'tick') {
            env.t += o.ms;
          } else if (o.op === 'update') {
            set = o.set;
            for (const l of held) if (!set.some((x) => endpointKey(ep(x)) === l.key)) detached.add(l);
            for (const k of ejected.keys()) if (!set.some((x) => endpointKey(ep(x)) === k)) ejected.delete(k);
            b.update(eps(...set));
          }
          const outstanding = b.describe().reduce((sum, s) => sum + s.outstanding, 0);
          const expected = held.filter((l) => !detached.has(l)).length;
          if (outstanding !== expected) return false;
        }
        return true;
      }),
      { seed: 42, numRuns: 300 },
    );
    t.ok(checked > 200, `${checked} picks with an endpoint checked`);
  });
}
