/**
 * Deltas on the config stream over real gRPC and TLS (issue 17): the real controller server and
 * real agent clients on 127.0.0.1. A sequence of changes reaches agents as deltas, each equal to
 * a full snapshot, one diff per version whatever the agents, the persisted snapshot right; a
 * forced gap and an invalid delta each end in a full resync; an agent before deltas gets full
 * snapshots; the controller answers a resync at once and never loops on a refused full one; an
 * agent further behind than the kept history gets a full snapshot; a reconnect to the same
 * controller resumes with a delta, a restarted controller sends a full one.
 */
import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, ServerCredentials, status, type ServerDuplexStream } from '@grpc/grpc-js';
import { SnapshotStore } from '../../../../src/agent/control/snapshot-store.js';
import type { SnapshotMeta } from '../../../../src/agent/control/client.js';
import { agentApiService } from '../../../../src/controller/agent-api/agent-api-proto.js';
import { AgentApiServer } from '../../../../src/controller/agent-api/agent-api-server.js';
import { buildClusterState, type ClusterState } from '../../../../src/mesh/cluster-state.js';
import { isMeshletError } from '../../../../src/mesh/errors.js';
import { computeSnapshot } from '../../../../src/mesh/snapshot.js';
import { CLUSTER_DELTA_ENCODING, diffView, encodeDelta, LOCAL_WORKLOADS_CHANGE } from '../../../../src/mesh/snapshot-wire/delta.js';
import { decodeSnapshot, encodeClusterView, snapshotToWire } from '../../../../src/mesh/snapshot-wire/encode.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../../src/mesh/types.js';
import type { AgentMessage__Output } from '../../../../src/proto/generated/meshlet/v1/AgentMessage.js';
import type { ControllerMessage } from '../../../../src/proto/generated/meshlet/v1/ControllerMessage.js';
import { FakeAuthenticator, FakeFeed, makePki, rawClient, RawAgent, recordingLogger, silent, startClient, startServer, TRUST_DOMAIN, waitFor } from '../../../unit/controller/agent-api/harness.js';
import { largeClusterObjects } from '../../../unit/controller/agent-api/large-cluster.js';
import { thrown } from '../../../unit/mesh/fixture.js';

const pki = await makePki(t);
const SIZE = { nodes: 3, pods: 60, services: 6 };
const authenticator = new FakeAuthenticator({ 'token-a': 'node-a', 't0': 'node-0', 't1': 'node-1' });
/** Generous: a loaded 2-core machine. */
const WAIT_MS = 30_000;

/** The cluster after `k` changes: pod k*7 moves to another Service each time. */
function stateAt(k: number): ClusterState {
  const objects = largeClusterObjects(SIZE);
  for (let i = 1; i <= k; i++) {
    const pod = objects.filter((o) => o.kind === 'Pod')[(i * 7) % SIZE.pods];
    if (pod !== undefined && pod.kind === 'Pod') Object.assign(pod, { labels: { ...pod.labels, app: `app-${i % 6}`, rev: `r${i}` } });
  }
  return buildClusterState(objects);
}

function fullDecode(state: ClusterState, node: string, version: string): NodeSnapshot {
  return decodeSnapshot(snapshotToWire(encodeClusterView(state, version), computeSnapshot(state, node, version)), { node, trustDomain: TRUST_DOMAIN });
}

/** A started client for `node` recording snapshots with how they came. */
function agent(t: Test, address: string, node: string, token: string, extra: { deltas?: boolean; heldVersion?: string; store?: SnapshotStore } = {}) {
  const got: { snapshot: NodeSnapshot; meta: SnapshotMeta }[] = [];
  const { client } = startClient(t, pki, address, {
    node,
    credentials: async () => token,
    onSnapshot: async (snapshot, meta) => {
      got.push({ snapshot, meta });
      void extra.store?.save(snapshot);
    },
    ...(extra.deltas === undefined ? {} : { deltas: extra.deltas }),
    ...(extra.heldVersion === undefined ? {} : { heldVersion: extra.heldVersion }),
  });
  return { client, got, has: (v: string) => got.some((g) => g.snapshot.version === v) };
}

t.test('a sequence of changes reaches two agents as deltas, each equal to a full snapshot; one diff per version', async (t) => {
  const feed = new FakeFeed();
  const states = [stateAt(0)];
  feed.publish(states[0]!, 'v0');
  const { server, address } = await startServer(t, pki, feed, { authenticator });
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-deltas-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new SnapshotStore({ dir, logger: silent });
  const agents = [agent(t, address, 'node-0', 't0', { store }), agent(t, address, 'node-1', 't1')];
  await waitFor(() => agents.every((a) => a.has('v0')), 'both agents on v0', WAIT_MS);
  for (let k = 1; k <= 5; k++) {
    states.push(stateAt(k));
    feed.publish(states[k]!, `v${k}`);
    await waitFor(() => agents.every((a) => a.has(`v${k}`)), `both agents on v${k}`, WAIT_MS);
  }
  for (const [i, a] of agents.entries()) {
    t.same(a.got.map((g) => g.meta.delta), [false, true, true, true, true, true], `node-${i}: a full snapshot, then deltas`);
    for (const { snapshot } of a.got) t.strictSame(snapshot, fullDecode(states[Number(snapshot.version.slice(1))]!, `node-${i}`, snapshot.version), `node-${i} ${snapshot.version}`);
    t.equal(server.nodeStats(`node-${i}`)?.deltasSent, 5);
  }
  const fullBytes = agents[0]!.got[0]!.meta.clusterBytes;
  for (const g of agents[0]!.got.slice(1)) t.ok(g.meta.clusterBytes * 4 < fullBytes, `${g.snapshot.version}: ${g.meta.clusterBytes} bytes against ${fullBytes} for the full view`);
  t.equal(server.clusterDeltaEncodings, 5, 'one diff per version for both agents');
  t.equal(server.clusterViewEncodings, 1, 'the full view encoded only for the first push');
  await store.flush();
  t.strictSame(await store.load({ node: 'node-0', trustDomain: TRUST_DOMAIN }), fullDecode(states[5]!, 'node-0', 'v5'), 'the persisted snapshot is the newest, whole');
});

t.test('a forced gap: an agent saying it holds a version it has no view of resyncs to a full snapshot', async (t) => {
  const feed = new FakeFeed();
  feed.publish(stateAt(0), 'v0');
  const { logger, lines } = recordingLogger();
  const { server, address } = await startServer(t, pki, feed, { authenticator, logger });
  const warm = new RawAgent(t, rawClient(t, pki, address), 't1', 'node-1');
  warm.hello('node-1');
  await waitFor(() => warm.snapshots.length === 1, 'v0 to a raw agent', WAIT_MS);
  feed.publish(stateAt(1), 'v1');
  // As an agent restarted with a persisted v0: the controller, which holds v0, sends a delta.
  const a = agent(t, address, 'node-0', 't0', { heldVersion: 'v0' });
  await waitFor(() => server.nodeStats('node-0')?.lastAckedVersion === 'v1', 'the agent to ACK v1', WAIT_MS);
  const stats = server.nodeStats('node-0');
  t.equal(stats?.deltasSent, 1, 'a delta from v0 was sent');
  t.equal(stats?.resyncs, 1, 'the agent asked for a resync');
  const nacked = lines.filter((l) => String(l['msg']).startsWith('agent refused a snapshot (NACK)'));
  t.equal(nacked.length, 1, 'one NACK logged');
  t.match(String(nacked[0]?.['reason']), 'the agent holds no cluster view (a gap in versions: a full snapshot is needed)', 'naming the gap');
  t.same(a.got.map((g) => [g.snapshot.version, g.meta.delta]), [['v1', false]], 'the agent applied only the full v1');
  t.strictSame(a.got[0]?.snapshot, fullDecode(stateAt(1), 'node-0', 'v1'));
});

t.test('an invalid delta from a controller: NACKed with resync naming the problem, then the full snapshot applied', async (t) => {
  const v0 = stateAt(0);
  const moved = v0.workloads.find((w) => w.node === 'node-a') ?? (v0.workloads[0] as WorkloadInfo);
  const bad = { ...v0, workloads: v0.workloads.map((w) => (w === moved ? { ...w, addresses: ['10.0.0.999'] } : w)) };
  const v1 = stateAt(1);
  const nacks: AgentMessage__Output['nack'][] = [];
  const full = (state: ClusterState, version: string): ControllerMessage => {
    const wire = snapshotToWire(encodeClusterView(state, version), computeSnapshot(state, 'node-0', version));
    return { snapshot: { ...wire, localWorkloadUids: [...wire.localWorkloadUids], trustBundlePem: pki.tls.trustBundlePem, publishedAtMs: Date.now() } };
  };
  // A controller of its own: the real one never sends a bad delta.
  const fake = new Server();
  fake.addService(agentApiService(), {
    StreamConfig: (call: ServerDuplexStream<AgentMessage__Output, ControllerMessage>) => {
      call.on('data', (m: AgentMessage__Output) => {
        if (m.hello) call.write(full(v0, 'v0'));
        else if (m.ack?.version === 'v0') {
          const encoded = encodeDelta(diffView(v0, bad, 'v0', 'v1'));
          const part = computeSnapshot(v1, 'node-0', 'v1');
          call.write({ delta: { version: 'v1', fromVersion: 'v0', clusterEncoding: encoded.encoding, clusterDelta: encoded.bytes, node: 'node-0', nodeAddress: part.nodeAddress, localWorkloadUids: part.localWorkloads.map((w) => w.uid), trustBundlePem: pki.tls.trustBundlePem, publishedAtMs: Date.now() } });
        } else if (m.nack) {
          nacks.push(m.nack);
          if (m.nack.resync) call.write(full(v1, 'v1'));
        }
      });
      call.on('error', () => undefined);
    },
    SignCertificate: (_call: unknown, callback: (err: { code: status; details: string }) => void) => callback({ code: status.UNIMPLEMENTED, details: 'not here' }),
  });
  const creds = ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(pki.tls.certPem), private_key: Buffer.from(pki.tls.keyPem) }], false);
  const port = await new Promise<number>((resolve, reject) => fake.bindAsync('127.0.0.1:0', creds, (err, p) => (err === null ? resolve(p) : reject(err))));
  t.teardown(() => fake.forceShutdown());
  const a = agent(t, `127.0.0.1:${port}`, 'node-0', 't0');
  await waitFor(() => a.has('v1'), 'the agent on v1', WAIT_MS);
  t.equal(nacks.length, 1, 'one NACK');
  t.equal(nacks[0]?.version, 'v1');
  t.equal(nacks[0]?.resync, true, 'asking for a full snapshot');
  t.match(nacks[0]?.reason ?? '', 'delta.workloads.upserted[0].addresses[0]: "10.0.0.999" is not an IP address', 'naming the bad field');
  t.same(a.got.map((g) => [g.snapshot.version, g.meta.delta]), [['v0', false], ['v1', false]], 'the bad delta was never applied');
  t.strictSame(a.got[1]?.snapshot, fullDecode(v1, 'node-0', 'v1'));
  t.equal(a.client.heldVersion, 'v1');
});

t.test('an agent before deltas gets full snapshots only', async (t) => {
  const feed = new FakeFeed();
  feed.publish(stateAt(0), 'v0');
  const { server, address } = await startServer(t, pki, feed, { authenticator });
  const old = agent(t, address, 'node-0', 't0', { deltas: false });
  // A Hello without field 4, exactly as an agent built before deltas sends it.
  const raw = new RawAgent(t, rawClient(t, pki, address), 't1', 'node-1');
  raw.hello('node-1');
  await waitFor(() => old.has('v0') && raw.snapshots.length === 1, 'v0 to both', WAIT_MS);
  raw.ack('v0');
  for (let k = 1; k <= 3; k++) {
    feed.publish(stateAt(k), `v${k}`);
    await waitFor(() => old.has(`v${k}`) && raw.snapshots.length === k + 1, `v${k} to both`, WAIT_MS);
    raw.ack(`v${k}`);
  }
  t.same(old.got.map((g) => g.meta.delta), [false, false, false, false], 'the client without deltas: full snapshots');
  t.same(raw.messages.map((m) => m.message), ['snapshot', 'snapshot', 'snapshot', 'snapshot'], 'the raw pre-delta agent: Snapshot messages');
  t.equal(server.nodeStats('node-0')?.deltasSent, 0);
  t.equal(server.clusterDeltaEncodings, 0, 'no diff made for nobody');
});

t.test('local workloads in deltas: as the change of the set to an agent with the capability, whole to one without', async (t) => {
  const feed = new FakeFeed();
  feed.publish(stateAt(0), 'v0');
  const { address } = await startServer(t, pki, feed, { authenticator });
  const withIt = new RawAgent(t, rawClient(t, pki, address), 't0', 'node-0');
  withIt.hello('node-0', '', undefined, [CLUSTER_DELTA_ENCODING], [LOCAL_WORKLOADS_CHANGE, 'meshlet.some-future-capability']);
  // Deltas, but built before the capability: its Hello has no field 5.
  const without = new RawAgent(t, rawClient(t, pki, address), 't1', 'node-1');
  without.hello('node-1', '', undefined, [CLUSTER_DELTA_ENCODING]);
  await waitFor(() => withIt.messages.length === 1 && without.messages.length === 1, 'v0 to both', WAIT_MS);
  withIt.ack('v0');
  without.ack('v0');
  feed.publish(stateAt(1), 'v1');
  await waitFor(() => withIt.messages.length === 2 && without.messages.length === 2, 'v1 to both', WAIT_MS);
  const local = (node: string): string[] => computeSnapshot(stateAt(1), node, 'v1').localWorkloads.map((w) => w.uid);
  const a = withIt.messages[1]?.delta;
  t.equal(a?.localWorkloadsAsChange, true, 'with the capability: the change of the set');
  t.strictSame([a?.localWorkloadUids, a?.localWorkloadUidsAdded, a?.localWorkloadUidsRemoved], [[], [], []], 'no whole list, and the set did not change');
  const b = without.messages[1]?.delta;
  t.equal(b?.localWorkloadsAsChange, false, 'without it: whole');
  t.ok(local('node-1').length > 0, 'node-1 has local workloads');
  t.strictSame(b?.localWorkloadUids, local('node-1'), 'the whole list, as before the capability');
  const first = computeSnapshot(stateAt(0), 'node-0', 'v0').localWorkloads.map((w) => w.uid);
  t.ok(first.length > 0, 'node-0 has local workloads');
  t.strictSame(withIt.snapshots.at(0)?.localWorkloadUids, first, 'a full snapshot stays whole, with the capability too');
});

t.test('the controller answers a resync at once with a full snapshot, and never resends a refused full one', async (t) => {
  const feed = new FakeFeed();
  feed.publish(stateAt(0), 'v0');
  const { server, address } = await startServer(t, pki, feed, { authenticator });
  const raw = new RawAgent(t, rawClient(t, pki, address), 't0', 'node-0');
  raw.hello('node-0', '', undefined, [CLUSTER_DELTA_ENCODING]);
  await waitFor(() => raw.messages.length === 1, 'v0', WAIT_MS);
  raw.ack('v0');
  feed.publish(stateAt(1), 'v1');
  await waitFor(() => raw.messages.length === 2, 'v1', WAIT_MS);
  t.equal(raw.messages[1]?.message, 'delta', 'v1 comes as a delta');
  t.equal(raw.messages[1]?.delta?.fromVersion, 'v0');
  raw.nack('v1', 'lost my view', true);
  await waitFor(() => raw.messages.length === 3, 'the resync', WAIT_MS);
  t.equal(raw.messages[2]?.message, 'snapshot', 'answered with a full snapshot');
  t.equal(raw.messages[2]?.snapshot?.version, 'v1', 'of the newest state');
  // A full snapshot NACKed, resync or not, is not resent: the next push is the next state, in full.
  raw.nack('v1', 'cannot use it', true);
  feed.publish(stateAt(2), 'v2');
  await waitFor(() => raw.messages.length === 4, 'v2', WAIT_MS);
  t.equal(raw.messages[3]?.message, 'snapshot', 'v2 in full: the base was forgotten at the NACK');
  t.equal(raw.messages[3]?.snapshot?.version, 'v2');
  t.equal(server.nodeStats('node-0')?.resyncs, 1, 'one resync counted');
  t.equal(server.nodeStats('node-0')?.nacks, 2);
});

t.test('an agent further behind than the kept history gets a full snapshot (deltaBases: 1)', async (t) => {
  const feed = new FakeFeed();
  feed.publish(stateAt(0), 'v0');
  const { address } = await startServer(t, pki, feed, { authenticator, deltaBases: 1 });
  const raw = new RawAgent(t, rawClient(t, pki, address), 't0', 'node-0');
  raw.hello('node-0', '', undefined, [CLUSTER_DELTA_ENCODING]);
  await waitFor(() => raw.messages.length === 1, 'v0', WAIT_MS);
  // v1 and v2 while v0 is unanswered: v2 is pending; v0 is no longer kept when it is ACKed.
  feed.publish(stateAt(1), 'v1');
  feed.publish(stateAt(2), 'v2');
  raw.ack('v0');
  await waitFor(() => raw.messages.length === 2, 'v2', WAIT_MS);
  t.equal(raw.messages[1]?.message, 'snapshot', 'v2 in full: v0 fell out of the history');
  t.equal(raw.messages[1]?.snapshot?.version, 'v2');
  raw.ack('v2');
  feed.publish(stateAt(3), 'v3');
  await waitFor(() => raw.messages.length === 3, 'v3', WAIT_MS);
  t.equal(raw.messages[2]?.message, 'delta', 'v3 as a delta from v2');
  t.equal(raw.messages[2]?.delta?.fromVersion, 'v2');
});

t.test('deltaBases out of range is refused', async (t) => {
  for (const deltaBases of [-1, 1.5, 65]) {
    const err = thrown(() => new AgentApiServer({ feed: new FakeFeed(), authenticator, signer: { sign: async () => Promise.reject(new Error('no')) }, logger: silent, tls: pki.tls, trustDomain: TRUST_DOMAIN, deltaBases }));
    t.ok(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'), `${deltaBases}: MESHLET_ERR_CONFIG_INVALID`);
    t.match((err as Error).message, `deltaBases must be an integer from 0 to 64, got ${deltaBases}`);
  }
});

t.test('a reconnect to the same controller resumes with a delta; a restarted controller sends a full snapshot', async (t) => {
  const feed = new FakeFeed();
  feed.publish(stateAt(0), 'v0');
  const first = await startServer(t, pki, feed, { authenticator });
  const a = agent(t, first.address, 'node-0', 't0');
  await waitFor(() => a.has('v0'), 'v0', WAIT_MS);
  // Another stream of the node replaces the agent's (ABORTED); the agent reconnects with backoff.
  const intruder = new RawAgent(t, rawClient(t, pki, first.address), 't0', 'node-0');
  intruder.hello('node-0');
  await intruder.accepted;
  feed.publish(stateAt(1), 'v1');
  await waitFor(() => a.has('v1'), 'v1 after the reconnect', WAIT_MS);
  t.equal(a.got.at(-1)?.meta.delta, true, 'the Hello said v0: a delta from it');
  t.strictSame(a.got.at(-1)?.snapshot, fullDecode(stateAt(1), 'node-0', 'v1'));
  first.server.destroy();
  feed.publish(stateAt(2), 'v2');
  await startServer(t, pki, feed, { authenticator, port: first.port });
  await waitFor(() => a.has('v2'), 'v2 from the restarted controller', WAIT_MS);
  t.equal(a.got.at(-1)?.meta.delta, false, 'a new controller keeps no history: full');
  t.strictSame(a.got.at(-1)?.snapshot, fullDecode(stateAt(2), 'node-0', 'v2'));
});
