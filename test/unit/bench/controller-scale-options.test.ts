/**
 * The controller-scale bench's pure parts: its options (every problem listed, bounds attacked)
 * and the split of agents over hosts.
 */
import t from 'tap';
import { ADDRESS_CAPACITY } from '../../../bench/controller-scale/address-plan.js';
import { agentsOfHosts, SCALE_LIMITS, scaleOptions } from '../../../bench/controller-scale/scale-options.js';
import { MeshletError } from '../../../src/mesh/errors.js';

function problem(argv: string[]): string {
  try {
    scaleOptions(argv);
  } catch (err) {
    t.equal((err as MeshletError).code, 'MESHLET_ERR_CONFIG_INVALID');
    return (err as Error).message;
  }
  throw new Error(`${argv.join(' ')} was accepted`);
}

t.test('defaults: the 50-node run, one host per 125 agents', async (t) => {
  const o = scaleOptions([]);
  t.equal(o.agents, 50);
  t.equal(o.pods, 5_000);
  t.equal(o.services, 500);
  t.equal(o.changes, 30);
  t.equal(o.deltas, true);
  t.equal(o.hosts, 1);
  t.equal(o.limitMinutes, 10);
  t.equal(o.changeTimeoutSeconds, 30);
  t.same(o.controllerNodeOptions, []);
  t.ok(Object.isFrozen(o));
});

t.test("the issue's scale is accepted, with 8 hosts by default", async (t) => {
  const o = scaleOptions(['--agents', '1000', '--pods', '100000', '--services', '10000', '--deltas', '0']);
  t.equal(o.agents, 1_000);
  t.equal(o.pods, 100_000);
  t.equal(o.services, 10_000);
  t.equal(o.deltas, false);
  t.equal(o.hosts, 8);
});

t.test('controller node options are split on whitespace', async (t) => {
  t.same(scaleOptions(['--controller-node-options', '--cpu-prof  --cpu-prof-dir=/tmp/p']).controllerNodeOptions, ['--cpu-prof', '--cpu-prof-dir=/tmp/p']);
});

t.test('every problem is listed at once', async (t) => {
  const message = problem(['--agents', 'x', '--pods', '-1', '--changes', '0', '--deltas', '2']);
  t.match(message, /--agents must be an integer from 1 to 4096, got "x"/);
  t.match(message, /--pods must be an integer from 1 to \d+, got "-1"/);
  t.match(message, /--changes must be an integer from 1 to 1000, got "0"/);
  t.match(message, /--deltas must be an integer from 0 to 1, got "2"/);
});

t.test('bounds: agents, hosts, changes and the time limit have ceilings', async (t) => {
  t.match(problem(['--agents', String(SCALE_LIMITS.maxAgents + 1), '--pods', '100000']), /--agents must be/);
  t.match(problem(['--agents', '1000', '--hosts', String(SCALE_LIMITS.maxHosts + 1)]), /--hosts must be/);
  t.match(problem(['--changes', '1001']), /--changes must be/);
  t.match(problem(['--limit-minutes', '61']), /--limit-minutes must be/);
  t.match(problem(['--change-timeout-seconds', '601']), /--change-timeout-seconds must be an integer from 1 to 600/);
  t.match(problem(['--agents', '1e3']), /--agents must be an integer/);
  t.match(problem(['--agents', '99999999999999999999']), /--agents must be an integer/);
});

t.test('a cluster that does not fit in 198.18.0.0/15 is refused', async (t) => {
  t.match(problem(['--agents', '1000', '--services', '30000', '--pods', '100000']), new RegExp(`need 131000 addresses; 198.18.0.0/15 gives the bench ${ADDRESS_CAPACITY}`));
});

t.test('more hosts than agents, or fewer pods than nodes, is refused', async (t) => {
  t.match(problem(['--agents', '2', '--hosts', '3']), /--hosts 3 is more than --agents 2/);
  t.match(problem(['--agents', '100', '--pods', '99']), /--pods 99 is fewer than --agents 100/);
});

t.test('unknown, repeated and value-less flags are refused', async (t) => {
  t.match(problem(['--agent', '5']), /unknown argument "--agent"/);
  t.match(problem(['agents', '5']), /unknown argument "agents"/);
  t.match(problem(['--agents', '5', '--agents', '6']), /--agents is given twice/);
  t.match(problem(['--changes']), /--changes needs a value/);
});

t.test('controller node options must look like Node flags', async (t) => {
  t.match(problem(['--controller-node-options', '--cpu-prof; rm -rf /']), /--controller-node-options must be Node.js flags/);
  t.match(problem(['--controller-node-options', '  ']), /--controller-node-options must be Node.js flags/);
});

t.test('agents are split over hosts evenly, each once, in order', async (t) => {
  const groups = agentsOfHosts(10, 3);
  t.same(groups.map((g) => g.length), [3, 3, 4]);
  t.same(groups.flat(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.same(agentsOfHosts(1000, 8).map((g) => g.length), [125, 125, 125, 125, 125, 125, 125, 125]);
});
