/**
 * A real Agent (in-process, 127.0.0.1, no capture rules) fed by the agent API: snapshots over
 * the config stream, workload certificates over SignCertificate, readiness; the controller goes
 * away and the agent keeps serving; a controller back with a newer state updates it. Then the
 * controller side at the target scale: 50 agents, 5,000 pods, 500 Services.
 */
import t from 'tap';
import { pino } from 'pino';
import { Agent } from '../../../../src/agent/agent.js';
import { loadAgentConfig } from '../../../../src/agent/config.js';
import { ControllerClient } from '../../../../src/agent/control/client.js';
import { buildClusterState, computeSnapshot } from '../../../../src/mesh/snapshot.js';
import { certificateInfo } from '../../../../src/mesh/x509.js';
import {
  FakeAuthenticator,
  FakeFeed,
  FakeSigner,
  makePki,
  rawClient,
  RawAgent,
  startServer,
  TRUST_DOMAIN,
  waitFor,
} from '../../../unit/controller/agent-api/harness.js';
import { largeClusterState } from '../../../unit/controller/agent-api/large-cluster.js';
import { twoNodeObjects } from '../../../unit/mesh/fixture.js';

const logger = pino({ level: 'silent' });
const pki = await makePki(t);
const state1 = buildClusterState(twoNodeObjects());
const state2 = buildClusterState(twoNodeObjects().filter((o) => !(o.kind === 'Pod' && o.name === 'web-1')));
const nodeAIdentities = [...new Set(computeSnapshot(state1, 'node-a', '').localWorkloads.map((w) => w.identity))];

async function readiness(port: number): Promise<{ status: number; version: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz/ready`);
  return { status: res.status, version: ((await res.json()) as { version: string }).version };
}

t.test('an agent gets its snapshot and certificates from the controller, and keeps serving without it', async (t) => {
  const feed = new FakeFeed();
  feed.publish(state1, 'v1');
  const signer = new FakeSigner(pki.ca, { 'node-a': nodeAIdentities });
  const first = await startServer(t, pki, feed, { signer });

  // The client is built before the agent (the agent signs through it) and started after it.
  let agent: Agent | undefined;
  const client = new ControllerClient({
    address: first.address,
    caPem: pki.ca.trustBundlePem,
    node: 'node-a',
    credentials: async () => 'token-a',
    trustDomain: TRUST_DOMAIN,
    logger,
    // ACK once the lookup tables are in force; certificates follow on their own (the agent
    // retries them), so a slow signer never holds back the next snapshot.
    onSnapshot: async (s) => void agent?.applySnapshot(s).catch(() => undefined),
    backoff: { initialMs: 20, maxMs: 200 },
  });
  t.teardown(() => client.close());
  const config = loadAgentConfig({ node: 'node-a', config: '/unused', bind: '127.0.0.1', outboundPort: 0, inboundPort: 0, tunnelPort: 0, readinessPort: 0 }, {});
  agent = new Agent({ config, logger, signer: client, capture: null });
  t.teardown(() => agent?.destroy());
  const bound = await agent.start();
  client.start();

  await waitFor(() => agent?.readiness.ready === true, 'the agent ready', 10_000);
  t.same(await readiness(bound.readiness.port), { status: 200, version: 'v1' });
  t.strictSame(agent.snapshot, computeSnapshot(state1, 'node-a', 'v1'));
  const issued = agent.identities.list().map((c) => c.identity).sort();
  t.same(issued, [...nodeAIdentities].sort(), 'a certificate for every local identity, signed by the controller');
  for (const c of agent.identities.list()) t.same(certificateInfo(c.chainPem).identities, [c.identity]);
  t.same([...new Set(signer.calls.map((c) => c.node))], ['node-a']);

  first.server.destroy();
  await waitFor(() => !client.connected, 'the agent noticed');
  t.same(await readiness(bound.readiness.port), { status: 200, version: 'v1' }, 'still ready, still v1');

  const feed2 = new FakeFeed();
  feed2.publish(state2, 'v2');
  await startServer(t, pki, feed2, { signer, port: first.port });
  await waitFor(() => agent?.snapshot.version === 'v2', 'v2 from the controller that came back', 10_000);
  t.same(agent.snapshot.localWorkloads.map((w) => w.uid), ['Pod/demo/client', 'Pod/shop/cart']);
});

t.test('50 agents, 5,000 pods, 500 Services: a new state reaches every agent, encoded once', async (t) => {
  const nodes = Array.from({ length: 50 }, (_, i) => `node-${i}`);
  const tokens = Object.fromEntries(nodes.map((n) => [`token-${n}`, n]));
  const feed = new FakeFeed();
  feed.publish(largeClusterState({ nodes: 50, pods: 5000, services: 500 }), 'v1');
  const { server, address } = await startServer(t, pki, feed, { authenticator: new FakeAuthenticator(tokens) });
  const client = rawClient(t, pki, address);
  // Raw agents ACK without decoding: this measures the controller's side of a push.
  const agents = nodes.map((n) => new RawAgent(t, client, `token-${n}`, n));
  agents.forEach((a, i) => a.hello(nodes[i]));
  await waitFor(() => agents.every((a) => a.snapshots.length === 1), 'v1 everywhere', 20_000);
  agents.forEach((a) => a.ack('v1'));
  await waitFor(() => server.stats().every((s) => s.lastAckedVersion === 'v1'), 'every ACK of v1', 20_000);

  const next = largeClusterState({ nodes: 50, pods: 4990, services: 500 });
  const started = performance.now();
  feed.publish(next, 'v2');
  await waitFor(() => agents.every((a) => a.snapshots.length === 2), 'v2 everywhere', 20_000);
  const elapsed = performance.now() - started;
  agents.forEach((a) => a.ack('v2'));
  await waitFor(() => server.stats().every((s) => s.lastAckedVersion === 'v2'), 'every ACK of v2', 20_000);
  t.equal(server.clusterViewEncodings, 2, 'one encoding per version, not per node');
  t.equal(new Set(agents.map((a) => a.snapshots[1]!.cluster.length)).size, 1, 'every node got the same cluster bytes');
  t.comment(`v2 pushed to 50 agents in ${elapsed.toFixed(0)} ms (cluster view ${agents[0]!.snapshots[1]!.cluster.length} bytes)`);
  // The target is 1 s on a real controller; this box runs the 50 agents' TLS too, on 2 shared cores.
  t.ok(elapsed < 3_000, `pushed within 3 s (${elapsed.toFixed(0)} ms)`);
});
