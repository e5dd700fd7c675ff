/**
 * Issue 9, finding 1, end to end in-process: a meshed identity opens a real mTLS tunnel to a
 * running agent and CONNECTs to 127.0.0.1:<admin port> (the measured attack: 200, then
 * `POST /quitquitquit` stopped the agent). It gets 403 and the agent stays up, both in
 * production mode (loopback is never a workload address, whatever the snapshot says) and in the
 * loopback test mode (the agent's own ports are refused on every address). And a snapshot with
 * one bad workload still gets its capture rules applied for the others.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { adminRig, SERVER_ID, readAll, status, type AdminRig } from './admin-rig.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';

/** A port free a moment ago (the admin port must be a fixed one for the agent to know it). */
async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function workload(name: string, address: string): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node: 'node1',
    nodeAddress: '127.0.0.1', serviceAccount: 'server', identity: SERVER_ID, labels: {}, tlsMode: 'STRICT', namedPorts: [],
  };
}

/** The agent is still serving: its admin API answers and nobody asked it to quit. */
async function stillUp(t: Test, rig: AdminRig): Promise<void> {
  const ready = await fetch(`${rig.admin}/healthz`, { headers: rig.auth });
  t.equal(ready.status, 200, 'the admin API still answers');
  t.equal(rig.quits, 0, 'nothing reached /quitquitquit');
}

async function connectStatus(rig: AdminRig, address: string, port: number): Promise<number> {
  const s = await rig.connect(address, port);
  const code = await status(s);
  s.destroy();
  return code;
}

t.test('production mode: a snapshot listing 127.0.0.1 does not open the node to the tunnel', async (t) => {
  const adminPort = await freePort();
  const rig = await adminRig(t, { loopbackWorkloads: false, adminPort });
  // What a hostile or broken controller could send: the victim identity on a good address (so
  // the tunnel handshake works) and a "workload" on loopback.
  const snapshot: NodeSnapshot = {
    version: 'v2', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local',
    localWorkloads: [workload('server', '198.18.1.10'), workload('evil', '127.0.0.1')],
    workloads: [workload('server', '198.18.1.10'), workload('evil', '127.0.0.1')], services: [],
  };
  await rig.agent.applySnapshot(snapshot);
  t.same(rig.capture.applied.at(-1), ['198.18.1.10'], 'the rules are applied for the good workload only');
  t.equal(await connectStatus(rig, '127.0.0.1', adminPort), 403, 'CONNECT 127.0.0.1:<admin port> refused');
  t.equal(await connectStatus(rig, '127.0.0.1', rig.backendPort), 403, 'CONNECT to any loopback port refused');
  t.equal(await connectStatus(rig, '::ffff:127.0.0.1', adminPort), 403, 'the IPv4-mapped spelling too');
  t.equal(await connectStatus(rig, '169.254.169.254', 80), 403, 'the metadata service too');
  await stillUp(t, rig);
  const metrics = await (await fetch(rig.metrics)).text();
  t.match(metrics, /meshlet_agent_refused_addresses\{field="addresses"\} 1/, 'the refusal is counted');
});

t.test("loopback test mode: the agent's own ports are refused, a workload port is not", async (t) => {
  // Fixed ports, as in production (15000, 15020, 15021): the agent knows them from its config.
  const [adminPort, metricsPort, readinessPort] = [await freePort(), await freePort(), await freePort()];
  const rig = await adminRig(t, { adminPort, metricsPort, readinessPort });
  for (const port of [adminPort, metricsPort]) {
    t.equal(await connectStatus(rig, '127.0.0.1', port), 403, `CONNECT 127.0.0.1:${port} refused`);
  }
  const listeners = rig.agent.listeners;
  t.not(listeners, undefined, 'the agent is listening');
  for (const port of [listeners?.tunnel.port, listeners?.readiness.port, listeners?.inbound[0]?.port, listeners?.outbound[0]?.port]) {
    t.equal(await connectStatus(rig, '127.0.0.1', port ?? 0), 403, `CONNECT to the agent's port ${port} refused`);
  }
  await stillUp(t, rig);
  const s = await rig.connect('127.0.0.1', rig.backendPort);
  t.equal(await status(s), 200, 'the workload itself is still reachable');
  s.end('hello');
  t.equal(JSON.parse(await readAll(s)).n, 5);
});
