/**
 * The factory a TrafficPolicy will use: every algorithm by name, and a bad spec refused with
 * every bad field named, limits included.
 */
import t from 'tap';
import { ALGORITHMS, DEFAULT_ALGORITHM, MAX_MAGLEV_TABLE_SIZE, balancerSpecProblems, createBalancer, type BalancerSpec } from '../../../../../src/agent/policy/balancers/create-balancer.js';
import { isMeshletError } from '../../../../../src/mesh/errors.js';
import { FakeEnv, eps } from './balancer-fixtures.js';

t.test('every algorithm by name', async (t) => {
  t.equal(DEFAULT_ALGORITHM, 'least-request');
  for (const algorithm of ALGORITHMS) {
    const b = createBalancer({ algorithm }, eps(1, 2), { env: new FakeEnv() });
    t.equal(b.algorithm, algorithm);
    t.not(b.pick({ hashKey: 'x' }), undefined, `${algorithm} picks`);
  }
});

t.test('a bad spec names every bad field', async (t) => {
  const spec = { algorithm: 'random', choiceCount: 1, ewmaDecayMs: -5, ewmaDefaultRttMs: 0, ringPointsPerEndpoint: 0.5, maxRingSize: 0, maglevTableSize: 65536 } as unknown as BalancerSpec;
  t.same(balancerSpecProblems(spec).map((p) => p.split(':')[0]), ['algorithm', 'choiceCount', 'ewmaDefaultRttMs', 'ewmaDecayMs', 'ringPointsPerEndpoint', 'maxRingSize', 'maglevTableSize']);
  t.same(balancerSpecProblems({ algorithm: 'maglev', maglevTableSize: 65537, choiceCount: 2 }), []);
  try {
    createBalancer(spec, eps(1), { env: new FakeEnv() });
    t.fail('accepted a bad spec');
  } catch (err) {
    t.equal(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'), true);
    t.equal((err as { details: string[] }).details.length, 7);
  }
});

t.test('limits: past them a spec is refused', async (t) => {
  // 5,000,077 is prime, just above the cap; 5,000,011 is the cap and prime.
  t.same(balancerSpecProblems({ algorithm: 'maglev', maglevTableSize: MAX_MAGLEV_TABLE_SIZE }), []);
  t.equal(balancerSpecProblems({ algorithm: 'maglev', maglevTableSize: 5_000_077 }).length, 1);
  t.equal(balancerSpecProblems({ algorithm: 'least-request', choiceCount: 17 }).length, 1);
  t.equal(balancerSpecProblems({ algorithm: 'ring-hash', maxRingSize: 8 * 1024 * 1024 + 1 }).length, 1);
  t.equal(balancerSpecProblems({ algorithm: 'peak-ewma', ewmaDecayMs: 3_600_001 }).length, 1);
});
