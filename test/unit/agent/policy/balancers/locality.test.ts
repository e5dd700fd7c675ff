/**
 * Locality, for every algorithm: endpoints in the source's zone take the traffic while one of
 * them is healthy; when none is (none there, all ejected, all excluded) the others take it; when
 * every endpoint is ejected, all of them (panic). Endpoints with no zone count as remote.
 */
import t from 'tap';
import { createBalancer, ALGORITHMS } from '../../../../../src/agent/policy/balancers/create-balancer.js';
import { endpointKey, type Locality } from '../../../../../src/agent/policy/balancers/endpoint-table.js';
import type { Balancer } from '../../../../../src/agent/policy/balancers/tracked-balancer.js';
import type { EndpointInfo } from '../../../../../src/mesh/types.js';
import { FakeEnv, ep, eps } from './balancer-fixtures.js';

// e1, e2 in zone-a (the source's); e3, e4 in zone-b; e5 has no zone.
const ZONES: Record<string, string> = { '198.18.2.1': 'zone-a', '198.18.2.2': 'zone-a', '198.18.2.3': 'zone-b', '198.18.2.4': 'zone-b' };
const locality: Locality = { zone: 'zone-a', zoneOf: (e: EndpointInfo) => ZONES[e.address] };
const k = (n: number): string => endpointKey(ep(n));

/** The set of endpoint numbers 400 picks land on. */
function landed(b: Balancer, exclude?: ReadonlySet<string>): number[] {
  const seen = new Set<number>();
  for (let i = 0; i < 400; i++) {
    const l = b.pick({ hashKey: `s${i}`, exclude });
    l?.release();
    if (l !== undefined) seen.add(Number(l.endpoint.address.split('.')[3]));
  }
  return [...seen].sort();
}

for (const algorithm of ALGORITHMS) {
  t.test(`${algorithm}: the local zone first, then the others`, async (t) => {
    const env = new FakeEnv(13);
    const b = createBalancer({ algorithm }, eps(1, 2, 3, 4, 5), { env, locality });
    t.same(landed(b), [1, 2], 'only zone-a while it is healthy');
    b.eject(k(1), 1000);
    t.same(landed(b), [2], 'one local left takes it all');
    b.eject(k(2), 1000);
    t.same(landed(b), [3, 4, 5], 'zone-a all ejected: fail over');
    env.t = 1000;
    t.same(landed(b), [1, 2], 'back when the ejections end');
    t.same(landed(b, new Set([k(1), k(2)])), [3, 4, 5], 'zone-a all tried: fail over');
    for (const n of [1, 2, 3, 4, 5]) b.eject(k(n), 5000);
    t.same(landed(b), [1, 2, 3, 4, 5], 'everything ejected: panic, all of them');
    b.update(eps(3, 4));
    t.same(landed(b), [3, 4], 'no endpoint in zone-a at all');
  });
}

t.test('describe shows zones', async (t) => {
  const b = createBalancer({ algorithm: 'least-request' }, eps(1, 5), { env: new FakeEnv(), locality });
  t.same(b.describe().map((s) => s.zone), ['zone-a', undefined]);
});
