/**
 * Ring hash and Maglev: a key stays on its endpoint (across picks, snapshots and endpoint order),
 * shares are even, at most about 1/N of 10,000 keys move when one of N endpoints leaves, the
 * structure is rebuilt only when the set changes, an excluded or ejected endpoint's keys go to a
 * stable second choice, and a request without a key is spread at random.
 */
import t from 'tap';
import { endpointKey } from '../../../../../src/agent/policy/balancers/endpoint-table.js';
import { DEFAULT_MAGLEV_TABLE_SIZE, MaglevBalancer } from '../../../../../src/agent/policy/balancers/maglev.js';
import { RingHashBalancer } from '../../../../../src/agent/policy/balancers/ring-hash.js';
import type { HashBalancer } from '../../../../../src/agent/policy/balancers/hash-balancer.js';
import type { EndpointInfo } from '../../../../../src/mesh/types.js';
import { FakeEnv, countPicks, ep, eps, share } from './balancer-fixtures.js';

const KINDS = {
  'ring-hash': (e: readonly EndpointInfo[], env = new FakeEnv()): HashBalancer => new RingHashBalancer(e, { env }),
  maglev: (e: readonly EndpointInfo[], env = new FakeEnv()): HashBalancer => new MaglevBalancer(e, { env }),
};
const KEYS = Array.from({ length: 10_000 }, (_, i) => `session-${i}`);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

function owners(b: HashBalancer, keys: readonly string[] = KEYS): string[] {
  return keys.map((hashKey) => {
    const l = b.pick({ hashKey });
    l?.release();
    return l?.endpoint.address ?? 'none';
  });
}

for (const [name, make] of Object.entries(KINDS)) {
  t.test(`${name}: a key stays on its endpoint, whatever the endpoints' order`, async (t) => {
    const b = make(eps(1, 2, 3, 4, 5));
    const first = owners(b);
    t.same(owners(b), first, 'the same endpoint every time');
    t.same(owners(make(eps(5, 3, 1, 4, 2))), first, 'another agent listing the endpoints in another order agrees');
    for (const n of [1, 2, 3, 4, 5]) t.ok(Math.abs(share(countBy(first), `198.18.2.${n}`) - 0.2) < 0.05, `e${n}: ${share(countBy(first), `198.18.2.${n}`)}`);
  });

  for (const n of [5, 10]) {
    t.test(`${name}: one of ${n} endpoints leaves, about 1/${n} of 10,000 keys move`, async (t) => {
      const b = make(eps(...range(n)));
      const before = owners(b);
      b.update(eps(...range(n).filter((x) => x !== 2)));
      const after = owners(b);
      const moved = before.filter((a, i) => a !== after[i]).length / KEYS.length;
      t.ok(Math.abs(moved - 1 / n) < 0.05, `moved ${moved}, 1/N = ${1 / n}`);
      const movedFromOthers = before.filter((a, i) => a !== after[i] && a !== '198.18.2.2').length / KEYS.length;
      t.ok(movedFromOthers < (name === 'ring-hash' ? 1e-9 : 0.03), `keys of endpoints that stayed that moved: ${movedFromOthers}`);
      t.equal(after.filter((a) => a === '198.18.2.2').length, 0, 'nothing on the endpoint that left');
    });
  }

  t.test(`${name}: rebuilt only when the set of endpoints changes`, async (t) => {
    const b = make(eps(1, 2, 3));
    t.equal(b.builds, 1);
    b.update(eps(3, 2, 1));
    b.update(eps(1, 2, 3).map((e) => ({ ...e })));
    t.equal(b.builds, 1, 'new objects, another order: same structure');
    b.update(eps(1, 2));
    t.equal(b.builds, 2);
  });

  t.test(`${name}: an excluded or ejected endpoint's keys go to a stable second choice`, async (t) => {
    const b = make(eps(1, 2, 3, 4, 5));
    const first = owners(b, KEYS.slice(0, 2000));
    const exclude = new Set([endpointKey(ep(2))]);
    const second = KEYS.slice(0, 2000).map((hashKey) => b.pick({ hashKey, exclude })?.endpoint.address);
    t.equal(second.filter((a) => a === '198.18.2.2').length, 0, 'never the excluded one');
    t.same(second.filter((_, i) => first[i] !== '198.18.2.2'), first.filter((a) => a !== '198.18.2.2'), 'other keys do not move');
    const again = KEYS.slice(0, 2000).map((hashKey) => b.pick({ hashKey, exclude })?.endpoint.address);
    t.same(again, second, 'the second choice is stable');
    const spread = countBy(second.filter((_, i) => first[i] === '198.18.2.2') as string[]);
    t.ok(Object.keys(spread).length >= 3, `the moved keys spread over the others: ${JSON.stringify(spread)}`);
    b.eject(endpointKey(ep(2)), 1000);
    t.same(owners(b, KEYS.slice(0, 2000)), second, 'ejection moves the same keys the same way');
    const all = new Set(range(5).map((x) => endpointKey(ep(x))));
    t.equal(b.pick({ hashKey: 'k', exclude: all }), undefined, 'every endpoint tried: no pick');
  });

  t.test(`${name}: no key, a random pick`, async (t) => {
    const c = countPicks(make(eps(1, 2, 3, 4), new FakeEnv(3)), 8000);
    for (const n of [1, 2, 3, 4]) t.ok(Math.abs(share(c, `198.18.2.${n}`) - 0.25) < 0.03, `e${n}: ${share(c, `198.18.2.${n}`)}`);
  });

  t.test(`${name}: weights 1:3 in the key shares`, async (t) => {
    const weightOf = (e: EndpointInfo): number => (e.address === '198.18.2.1' ? 1 : 3);
    const b = name === 'maglev' ? new MaglevBalancer(eps(1, 2), { env: new FakeEnv(), weightOf }) : new RingHashBalancer(eps(1, 2), { env: new FakeEnv(), weightOf });
    const light = share(countBy(owners(b)), '198.18.2.1');
    t.ok(Math.abs(light - 0.25) < 0.03, `weight 1 of 4: ${light}`);
  });

  t.test(`${name}: none and one endpoint`, async (t) => {
    t.equal(make([]).pick({ hashKey: 'a' }), undefined);
    t.equal(make(eps(7)).pick({ hashKey: 'a' })?.endpoint.address, '198.18.2.7');
  });
}

t.test('ring size: points per endpoint times weight, capped; Maglev defaults to 65537 slots', async (t) => {
  t.equal(new RingHashBalancer(eps(1, 2, 3), { env: new FakeEnv() }).ringSize, 768, '256 points each');
  t.equal(new RingHashBalancer(eps(1, 2), { env: new FakeEnv(), pointsPerEndpoint: 10, weightOf: (e) => (e.address === '198.18.2.1' ? 1 : 2.5) }).ringSize, 35);
  t.equal(new RingHashBalancer(eps(1, 2, 3, 4), { env: new FakeEnv(), maxRingSize: 100 }).ringSize, 100, 'the cap scales every endpoint down alike');
  t.equal(DEFAULT_MAGLEV_TABLE_SIZE, 65537);
});

function countBy(list: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of list) out[a] = (out[a] ?? 0) + 1;
  return out;
}
