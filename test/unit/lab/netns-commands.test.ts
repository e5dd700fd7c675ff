import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildNetnsCommands, ipv4InCidr, planLab, POD_GATEWAY, type LabTopology } from '../../../src/lab/index.js';
import { labNetnsNames } from '../../../src/lab/netns-commands.js';

const testdata = fileURLToPath(new URL('../../../../test/unit/lab/testdata/', import.meta.url));

const topology: LabTopology = {
  name: 'gold',
  nodes: [{ name: 'n1' }, { name: 'n2' }],
  namespaces: [{ name: 'app', labels: {} }],
  pods: [
    { name: 'a', namespace: 'app', node: 'n1' },
    { name: 'b', namespace: 'app', node: 'n1' },
    { name: 'c', namespace: 'app', node: 'n2' },
  ],
  services: [],
};

t.test('the ip commands match the golden file', async (t) => {
  const rendered = buildNetnsCommands(planLab(topology))
    .map((args) => `ip ${args.join(' ')}`)
    .join('\n');
  t.equal(`${rendered}\n`, readFileSync(`${testdata}two-nodes.commands.golden`, 'utf8'));
});

t.test('every command acts inside a namespace of the lab, never in the host netns', async (t) => {
  const plan = planLab(topology);
  const own = new Set(labNetnsNames(plan));
  const defaultRoutes: (string | undefined)[] = [];
  const addresses = new Set<string>();
  for (const args of buildNetnsCommands(plan)) {
    const line = args.join(' ');
    const target = args[0] === '-n' ? args[1] : args[0] === 'netns' && (args[1] === 'add' || args[1] === 'exec') ? args[2] : undefined;
    t.not(target, undefined, `names a namespace: ip ${line}`);
    t.ok(own.has(target ?? ''), `scoped to a lab namespace (${target}): ip ${line}`);
    if (args.includes('route') && args.includes('default')) defaultRoutes.push(target);
    for (const ip of line.match(/\d+\.\d+\.\d+\.\d+/g) ?? []) addresses.add(ip);
  }
  t.same(defaultRoutes, plan.pods.map((p) => p.netns), 'only pods get a default route (to their node), one each');
  t.not(addresses.size, 0, 'the commands use addresses');
  // The one address outside the lab's range is the pod gateway: link-local, it never leaves the
  // veth pair between a pod and its node.
  t.same([...addresses].filter((ip) => !ipv4InCidr(ip, '198.18.0.0/15')), [POD_GATEWAY], 'every other address is in 198.18.0.0/15');
});

t.test('namespaces first, fabric before nodes before pods', async (t) => {
  const plan = planLab(topology);
  const cmds = buildNetnsCommands(plan);
  t.same(cmds.slice(0, 6).map((a) => a[2]), ['ml-gold-fabric', 'ml-gold-n1', 'ml-gold-n2', 'ml-gold-a', 'ml-gold-b', 'ml-gold-c']);
  for (const iface of [...plan.pods.map((p) => p.hostIface), ...plan.nodes.map((n) => n.fabricIface)]) {
    t.ok(iface.length <= 15, `${iface} fits IFNAMSIZ`);
  }
});
