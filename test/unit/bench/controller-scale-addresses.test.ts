/**
 * The controller-scale bench's address plan: every cluster address distinct and inside
 * 198.18.0.0/15, never a .0 or .255; each agent's loopback source distinct; the edges refused.
 */
import { isIPv4 } from 'node:net';
import t from 'tap';
import { ADDRESS_CAPACITY, addressPlan, agentSourceAddress, planAddress } from '../../../bench/controller-scale/address-plan.js';
import { MeshletError } from '../../../src/mesh/errors.js';

const inTestRange = (a: string): boolean => /^198\.(18|19)\.\d+\.\d+$/.test(a) && isIPv4(a);

t.test("the issue's scale: 1,000 nodes, 10,000 Services, 100,000 pods, all distinct, all in 198.18.0.0/15", async (t) => {
  const size = { agents: 1_000, services: 10_000, pods: 100_000 };
  const plan = addressPlan(size);
  const all = [
    ...Array.from({ length: size.agents }, (_, i) => plan.node(i)),
    ...Array.from({ length: size.services }, (_, s) => plan.service(s)),
    ...Array.from({ length: size.pods }, (_, p) => plan.pod(p)),
  ];
  t.equal(new Set(all).size, all.length);
  t.equal(all.filter((a) => !inTestRange(a)).length, 0);
  t.equal(all.filter((a) => /\.(0|255)$/.test(a)).length, 0);
  t.equal(all.filter((a) => a.startsWith('198.18.0.')).length, 0);
});

t.test('the plan starts at 198.18.1.1 and its last address is 198.19.255.254', async (t) => {
  t.equal(planAddress(0), '198.18.1.1');
  t.equal(planAddress(253), '198.18.1.254');
  t.equal(planAddress(254), '198.18.2.1');
  t.equal(planAddress(ADDRESS_CAPACITY - 1), '198.19.255.254');
});

t.test('an address past the plan, negative or fractional, is refused', async (t) => {
  for (const n of [ADDRESS_CAPACITY, -1, 1.5]) {
    t.throws(() => planAddress(n), { code: 'MESHLET_ERR_CONFIG_INVALID' });
  }
});

t.test('indexes outside the cluster are refused, not mapped into another kind', async (t) => {
  const plan = addressPlan({ agents: 2, services: 3, pods: 4 });
  t.equal(plan.service(0), planAddress(2));
  t.equal(plan.pod(0), planAddress(5));
  t.throws(() => plan.node(2), { code: 'MESHLET_ERR_CONFIG_INVALID' });
  t.throws(() => plan.service(3), { code: 'MESHLET_ERR_CONFIG_INVALID' });
  t.throws(() => plan.pod(4), { code: 'MESHLET_ERR_CONFIG_INVALID' });
  t.throws(() => plan.agentSource(-1), { code: 'MESHLET_ERR_CONFIG_INVALID' });
});

t.test('a cluster larger than the range is refused whole', async (t) => {
  const err = t.throws(() => addressPlan({ agents: 1, services: 1, pods: ADDRESS_CAPACITY - 1 })) as MeshletError;
  t.equal(err.code, 'MESHLET_ERR_CONFIG_INVALID');
  t.match(err.message, /need \d+ addresses/);
});

t.test('agent sources: distinct loopback addresses from 127.1.0.1, never .0 or .255', async (t) => {
  const sources = Array.from({ length: 4_096 }, (_, i) => agentSourceAddress(i));
  t.equal(sources[0], '127.1.0.1');
  t.equal(sources[254], '127.1.1.1');
  t.equal(new Set(sources).size, sources.length);
  t.equal(sources.filter((a) => !/^127\.\d+\.\d+\.\d+$/.test(a) || !isIPv4(a)).length, 0);
  t.equal(sources.filter((a) => /\.(0|255)$/.test(a)).length, 0);
  t.throws(() => agentSourceAddress(254 * 65_536), { code: 'MESHLET_ERR_CONFIG_INVALID' });
});
