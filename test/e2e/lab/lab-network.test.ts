import t from 'tap';
import { execFileSync } from 'node:child_process';
import { Lab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';
import { runTcpClient, startTcpServer } from '../helpers/tcp-tools.js';

// Two nodes; pods a1, a2 on n1 and b1 on n2. Lab names are distinct per test file.
const topology: LabTopology = {
  name: 'tnet',
  nodes: [{ name: 'n1' }, { name: 'n2' }],
  namespaces: [{ name: 'app', labels: {} }],
  pods: [
    { name: 'a1', namespace: 'app', node: 'n1' },
    { name: 'a2', namespace: 'app', node: 'n1' },
    { name: 'b1', namespace: 'app', node: 'n2' },
  ],
  services: [],
};

/** IP ForwDatagrams of a namespace: grows when the namespace routes a packet between interfaces. */
async function forwarded(lab: Lab, where: string): Promise<number> {
  const res = await lab.exec(where, 'cat', ['/proc/net/snmp']);
  const lines = res.stdout.split('\n').filter((l) => l.startsWith('Ip:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  return Number(values[names.indexOf('ForwDatagrams')]);
}

t.test('pods talk TCP across nodes and on one node, routed through their nodes', async (t) => {
  if (!requireNamespaces(t)) return;
  const lab = await Lab.up(topology, { agents: false });
  t.teardown(() => lab.down());

  const server = await startTcpServer(lab, 'b1', { port: 8080 });
  const sameNode = await startTcpServer(lab, 'a2', { port: 9090, mode: 'echo' });

  const n1Before = await forwarded(lab, 'n1');
  const n2Before = await forwarded(lab, 'n2');
  const cross = await runTcpClient(lab, 'a1', lab.podAddress('b1'), 8080, { bytes: 1 << 20 });
  t.ok(cross.ok, `a1 -> b1 across nodes: ${JSON.stringify(cross)}`);
  t.equal(cross.server?.remoteAddress, lab.podAddress('a1'), 'the server sees the client pod address');
  const seen = server.connections[0] ?? (await server.nextConnection());
  t.equal(seen.bytes, 1 << 20, 'server received every byte');
  t.ok((await forwarded(lab, 'n1')) > n1Before, 'node n1 forwarded the packets');
  t.ok((await forwarded(lab, 'n2')) > n2Before, 'node n2 forwarded the packets');

  const n1Mid = await forwarded(lab, 'n1');
  const n2Mid = await forwarded(lab, 'n2');
  const local = await runTcpClient(lab, 'a1', lab.podAddress('a2'), 9090, { bytes: 200_000, mode: 'echo' });
  t.ok(local.ok, `a1 -> a2 on one node (echo): ${JSON.stringify(local)}`);
  t.ok((await forwarded(lab, 'n1')) > n1Mid, 'same-node traffic crosses node n1 too (routed, not bridged)');
  t.equal(await forwarded(lab, 'n2'), n2Mid, 'same-node traffic does not touch n2');
  const echoed = sameNode.connections[0] ?? (await sameNode.nextConnection());
  t.equal(echoed.remoteAddress, lab.podAddress('a1'), 'the same-node server sees the client pod address');
});

t.test('addresses follow the plan and nothing routes off the host', async (t) => {
  if (!requireNamespaces(t)) return;
  const lab = await Lab.up({ ...topology, name: 'tnoroute' }, { agents: false });
  t.teardown(() => lab.down());

  t.equal(lab.nodeAddress('n1'), '198.18.0.10');
  t.equal(lab.nodeAddress('n2'), '198.18.0.11');
  t.equal(lab.podAddress('a1'), '198.18.1.10');
  t.equal(lab.podAddress('a2'), '198.18.1.11');
  t.equal(lab.podAddress('b1'), '198.18.2.10');
  t.equal(lab.netnsOf('b1'), 'ml-tnoroute-b1');

  for (const where of ['n1', 'n2']) {
    const routes = await lab.exec(where, 'ip', ['-4', 'route', 'show', 'default']);
    t.equal(routes.stdout.trim(), '', `node ${where} has no default route`);
    const fwd = await lab.exec(where, 'cat', ['/proc/sys/net/ipv4/ip_forward']);
    t.equal(fwd.stdout.trim(), '1', `node ${where} forwards`);
  }
  const podRoutes = await lab.exec('a1', 'ip', ['-4', 'route', 'show']);
  t.match(podRoutes.stdout, /default via 169\.254\.1\.1 dev eth0 onlink/, 'pod routes via the link-local gateway');
  const fabric = execFileSync('ip', ['-n', 'ml-tnoroute-fabric', '-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
  const inet = [...fabric.matchAll(/inet (\S+)/g)].map((m) => m[1]);
  t.same(inet, ['127.0.0.1/8', '198.18.0.2/24'], 'the fabric namespace has loopback and the controller address on the bridge, nothing else');
  const fabricRoutes = execFileSync('ip', ['-n', 'ml-tnoroute-fabric', '-4', 'route', 'show'], { encoding: 'utf8' });
  t.equal(fabricRoutes.trim().split('\n').filter((l) => !l.startsWith('198.18.0.0/24 dev br0')).join('\n'), '', 'and no route but the fabric subnet (no default route)');
  const bridge = await lab.exec('fabric', 'ip', ['-o', 'link', 'show', 'br0']);
  t.match(bridge.stdout, /br0: <[^>]*\bUP\b/, 'netnsOf("fabric") reaches the bridge namespace, br0 is up');

  // Unrouted addresses inside 198.18.0.0/15 only: one nobody owns, and a pod subnet of no node.
  for (const target of ['198.18.200.1', '198.18.9.10']) {
    const res = await runTcpClient(lab, 'a1', target, 80, { bytes: 10, timeoutMs: 3000 });
    t.notOk(res.ok, `a1 -> ${target} fails`);
    t.match(res.error?.code, /^(EHOSTUNREACH|ENETUNREACH)$/, `a1 -> ${target} is unreachable (${JSON.stringify(res.error)})`);
    t.ok(res.totalMs < 2000, `and fails quickly (${res.totalMs} ms)`);
  }
  const fromNode = await runTcpClient(lab, 'n1', '198.18.200.1', 80, { bytes: 10, timeoutMs: 3000 });
  t.match(fromNode.error?.code, /^(EHOSTUNREACH|ENETUNREACH)$/, `n1 -> 198.18.200.1 is unreachable (${JSON.stringify(fromNode.error)})`);
});

t.test('a REDIRECT in the node namespace captures pod traffic to a VIP and to a same-node pod', async (t) => {
  if (!requireNamespaces(t)) return;
  const withService: LabTopology = {
    ...topology,
    name: 'tcapture',
    services: [{ name: 'svc', namespace: 'app', selector: { app: 'x' }, ports: [{ port: 80 }] }],
  };
  const lab = await Lab.up(withService, { agents: false });
  t.teardown(() => lab.down());
  // The rule lives in the lab's node namespace only (and goes with it).
  const rule = await lab.exec('n1', 'iptables', ['-w', '5', '-t', 'nat', '-A', 'PREROUTING', '-s', lab.podAddress('a1'), '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', '15001']);
  t.equal(rule.code, 0, `iptables in the node namespace: ${rule.stderr}`);
  const capture = await startTcpServer(lab, 'n1', { port: 15001 });

  const vip = lab.serviceVip('app', 'svc');
  t.equal(vip, '198.19.0.10');
  const toVip = await runTcpClient(lab, 'a1', vip, 80, { bytes: 1000 });
  t.ok(toVip.ok, `a1 -> VIP ${vip}:80 lands on the node's :15001 (${JSON.stringify(toVip)})`);
  t.equal(toVip.server?.remoteAddress, lab.podAddress('a1'), 'with the pod as source');

  const toLocal = await runTcpClient(lab, 'a1', lab.podAddress('a2'), 8080, { bytes: 1000 });
  t.ok(toLocal.ok, `a1 -> a2 (same node) is captured too (${JSON.stringify(toLocal)})`);
  t.equal(capture.connections.length >= 1, true, 'the capture server saw connections');
});
