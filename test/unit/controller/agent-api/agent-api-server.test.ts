/**
 * The agent API server in-process on 127.0.0.1:0 with real TLS, driven by a raw gRPC agent:
 * hello -> snapshot -> ack, pushes on new states, NACKs, authentication and node checks,
 * coalescing, one stream per node, one encoding per version, drain.
 */
import { PACKAGE_VERSION } from '../../../../src/ops/package-version.js';
import t from 'tap';
import { status, type ServiceError } from '@grpc/grpc-js';
import { AgentApiServer } from '../../../../src/controller/agent-api/agent-api-server.js';
import { MeshletError, isMeshletError } from '../../../../src/mesh/errors.js';
import { buildClusterState, computeSnapshot } from '../../../../src/mesh/snapshot.js';
import { decodeSnapshot } from '../../../../src/mesh/snapshot-wire/encode.js';
import { twoNodeObjects } from '../../mesh/fixture.js';
import { FakeAuthenticator, FakeFeed, FakeSigner, makePki, rawClient, RawAgent, rawSign, silent, startServer, TRUST_DOMAIN, waitFor } from './harness.js';
import { ERROR_CODE_METADATA } from '../../../../src/controller/agent-api/grpc-status.js';
import { certificateInfo } from '../../../../src/mesh/x509.js';
import type { PushOutcome } from '../../../../src/controller/agent-api/node-stats.js';
import { largeClusterState } from './large-cluster.js';

const pki = await makePki(t);
const state1 = buildClusterState(twoNodeObjects());
const state2 = buildClusterState(twoNodeObjects().filter((o) => !(o.kind === 'Pod' && o.name === 'web-1')));

t.test('hello -> snapshot -> ack, with figures per node', async (t) => {
  const feed = new FakeFeed();
  feed.publish(state1, 'v1', Date.now() - 5);
  const pushes: PushOutcome[] = [];
  const { server, address } = await startServer(t, pki, feed, { onPush: (o) => pushes.push(o) });
  const agent = new RawAgent(t, rawClient(t, pki, address), 'token-a');
  agent.hello();
  await waitFor(() => agent.snapshots.length === 1, 'the first snapshot');
  const wire = agent.snapshots[0]!;
  t.equal(wire.version, 'v1');
  t.equal(wire.trustBundlePem, pki.ca.trustBundlePem, 'the trust bundle travels with it');
  t.ok(wire.publishedAtMs > 0);
  t.strictSame(decodeSnapshot(wire, { node: 'node-a', trustDomain: TRUST_DOMAIN }), computeSnapshot(state1, 'node-a', 'v1'));
  t.ok(agent.headers, 'headers told the agent it was accepted');
  t.match(server.nodeStats('node-a'), { connected: true, agentVersion: PACKAGE_VERSION, lastSentVersion: 'v1', lastAckedVersion: undefined });

  agent.ack('v1');
  await waitFor(() => server.nodeStats('node-a')?.lastAckedVersion === 'v1', 'the ACK');
  const stats = server.nodeStats('node-a')!;
  t.ok(stats.connectedSince instanceof Date);
  t.type(stats.lastPushLatencyMs, 'number', 'a push latency is recorded');
  t.ok((stats.lastPushLatencyMs ?? 0) >= 5, `push latency ${stats.lastPushLatencyMs} ms (wanted >= 5), from publishedAt`);
  t.match(pushes, [{ node: 'node-a', version: 'v1', outcome: 'ack' }]);
  t.same(server.stats().map((s) => s.node), ['node-a']);
});

t.test('a new state is pushed and acked; a Hello holding the current version gets nothing resent', async (t) => {
  const feed = new FakeFeed();
  feed.publish(state1, 'v1');
  const { server, address } = await startServer(t, pki, feed);
  const client = rawClient(t, pki, address);
  const agent = new RawAgent(t, client, 'token-a');
  agent.hello();
  await waitFor(() => agent.snapshots.length === 1, 'v1');
  agent.ack('v1');
  await waitFor(() => server.nodeStats('node-a')?.lastAckedVersion === 'v1', 'ACK v1');
  feed.publish(state2, 'v2');
  await waitFor(() => agent.snapshots.length === 2, 'v2');
  t.same(decodeSnapshot(agent.snapshots[1]!, { node: 'node-a', trustDomain: TRUST_DOMAIN }).localWorkloads.map((w) => w.uid), ['Pod/demo/client', 'Pod/shop/cart']);
  agent.ack('v2');
  await waitFor(() => server.nodeStats('node-a')?.lastAckedVersion === 'v2', 'ACK v2');

  const b = new RawAgent(t, client, 'token-b', 'node-b');
  b.hello('node-b', 'v2');
  await waitFor(() => server.nodeStats('node-b')?.connected === true, 'node-b accepted');
  await new Promise((r) => setTimeout(r, 50));
  t.same(b.snapshots, [], 'node-b already holds v2');
  t.equal(server.nodeStats('node-b')?.lastAckedVersion, 'v2');
});

t.test('a NACK is recorded and logged; the next state is still pushed', async (t) => {
  const feed = new FakeFeed();
  feed.publish(state1, 'v1');
  const { server, address } = await startServer(t, pki, feed);
  const agent = new RawAgent(t, rawClient(t, pki, address), 'token-a');
  agent.hello();
  await waitFor(() => agent.snapshots.length === 1, 'v1');
  agent.nack('v1', 'cluster.workloads[0].addresses[0]: "x" is not an IP address');
  await waitFor(() => server.nodeStats('node-a')?.nacks === 1, 'the NACK');
  t.match(server.nodeStats('node-a'), { lastNackVersion: 'v1', lastNackReason: /addresses\[0\]/, lastAckedVersion: undefined });
  feed.publish(state2, 'v2');
  await waitFor(() => agent.snapshots.length === 2, 'v2 after the NACK');
  agent.ack('v2');
  await waitFor(() => server.nodeStats('node-a')?.lastAckedVersion === 'v2', 'ACK v2');
  t.match(server.nodeStats('node-a'), { lastNackReason: undefined }, 'a later ACK clears the NACK');
});

t.test('authentication: a wrong or missing token is UNAUTHENTICATED; another node in the Hello is PERMISSION_DENIED', async (t) => {
  const feed = new FakeFeed();
  feed.publish(state1, 'v1');
  const authenticator = new FakeAuthenticator({ 'token-a': 'node-a' });
  const { server, address } = await startServer(t, pki, feed, { authenticator });
  const client = rawClient(t, pki, address);

  const wrong = new RawAgent(t, client, 'nope');
  wrong.hello();
  t.match(await wrong.status, { code: status.UNAUTHENTICATED, details: 'unknown join token' });
  t.equal(wrong.snapshots.length, 0);
  const none = new RawAgent(t, client, undefined);
  none.hello();
  t.equal((await none.status).code, status.UNAUTHENTICATED);
  t.same(authenticator.calls[0], { authorization: 'Bearer nope', node: 'node-a' }, 'the authenticator sees both metadata values');

  const liar = new RawAgent(t, client, 'token-a', 'node-b');
  liar.hello('node-b');
  const refused = await liar.status;
  t.equal(refused.code, status.PERMISSION_DENIED);
  t.match(refused.details, 'credentials are for node "node-a", not "node-b"');
  t.equal(liar.snapshots.length, 0, 'no snapshot of any node');
  t.same(server.stats().filter((s) => s.connected), []);
});

t.test('the first message must be a Hello; a silent stream times out', async (t) => {
  const feed = new FakeFeed();
  const { address } = await startServer(t, pki, feed, { helloTimeoutMs: 100 });
  const client = rawClient(t, pki, address);
  const early = new RawAgent(t, client, 'token-a');
  early.ack('v1');
  t.match(await early.status, { code: status.INVALID_ARGUMENT, details: /first message must be a Hello, got ack/ });
  const silentAgent = new RawAgent(t, client, 'token-a');
  t.match(await silentAgent.status, { code: status.DEADLINE_EXCEEDED, details: /no Hello within 100 ms/ });
});

t.test('states published while a push is unanswered are coalesced: only the newest is sent', async (t) => {
  const feed = new FakeFeed();
  feed.publish(state1, 'v1');
  const { server, address } = await startServer(t, pki, feed);
  const agent = new RawAgent(t, rawClient(t, pki, address), 'token-a');
  agent.hello();
  await waitFor(() => agent.snapshots.length === 1, 'v1');
  feed.publish(state2, 'v2');
  feed.publish(state1, 'v3');
  feed.publish(state2, 'v4');
  await new Promise((r) => setTimeout(r, 50));
  t.same(agent.versions, ['v1'], 'nothing more while v1 is unanswered');
  agent.ack('v1');
  await waitFor(() => agent.snapshots.length === 2, 'the newest');
  await new Promise((r) => setTimeout(r, 50));
  t.same(agent.versions, ['v1', 'v4'], 'v2 and v3 were never sent');
  t.equal(server.nodeStats('node-a')?.snapshotsSent, 2);
  agent.ack('v3');
  await new Promise((r) => setTimeout(r, 20));
  t.equal(server.nodeStats('node-a')?.lastAckedVersion, 'v1', 'an ACK of a version never sent is ignored');
});

t.test('a second stream for a node wins; the old one is closed', async (t) => {
  const feed = new FakeFeed();
  feed.publish(state1, 'v1');
  const { server, address } = await startServer(t, pki, feed);
  const client = rawClient(t, pki, address);
  const old = new RawAgent(t, client, 'token-a');
  old.hello();
  await waitFor(() => old.snapshots.length === 1, 'v1 on the old stream');
  const fresh = new RawAgent(t, client, 'token-a');
  fresh.hello();
  t.match(await old.status, { code: status.ABORTED, details: /replaced by a newer stream/ });
  await waitFor(() => fresh.snapshots.length === 1, 'v1 on the new stream');
  fresh.ack('v1');
  feed.publish(state2, 'v2');
  await waitFor(() => fresh.snapshots.length === 2, 'v2 on the new stream');
  t.equal(old.snapshots.length, 1, 'the old stream got nothing more');
  t.equal(server.nodeStats('node-a')?.connected, true);
});

t.test('the cluster view is encoded once per version, whatever the number of nodes', async (t) => {
  const nodes = ['node-0', 'node-1', 'node-2', 'node-3', 'node-4'];
  const tokens = Object.fromEntries(nodes.map((n) => [`token-${n}`, n]));
  const feed = new FakeFeed();
  const big = largeClusterState({ nodes: 5, pods: 500, services: 50 });
  feed.publish(big, 'v1');
  const { server, address } = await startServer(t, pki, feed, { authenticator: new FakeAuthenticator(tokens) });
  const client = rawClient(t, pki, address);
  const agents = nodes.map((n) => new RawAgent(t, client, `token-${n}`, n));
  agents.forEach((a, i) => a.hello(nodes[i]));
  await waitFor(() => agents.every((a) => a.snapshots.length === 1), 'v1 everywhere');
  t.equal(server.clusterViewEncodings, 1);
  for (const [i, a] of agents.entries()) {
    const node = nodes[i]!;
    t.equal(decodeSnapshot(a.snapshots[0]!, { node, trustDomain: TRUST_DOMAIN }).localWorkloads.length, computeSnapshot(big, node, 'v1').localWorkloads.length);
    a.ack('v1');
  }
  await waitFor(() => server.stats().every((s) => s.lastAckedVersion === 'v1'), 'every ACK');
  feed.publish(largeClusterState({ nodes: 5, pods: 400, services: 50 }), 'v2');
  await waitFor(() => agents.every((a) => a.snapshots.length === 2), 'v2 everywhere');
  t.equal(server.clusterViewEncodings, 2);
});

t.test('close() ends every stream (UNAVAILABLE), stops following the feed, and is idempotent', async (t) => {
  const feed = new FakeFeed();
  feed.publish(state1, 'v1');
  const { server, address } = await startServer(t, pki, feed);
  const agent = new RawAgent(t, rawClient(t, pki, address), 'token-a');
  agent.hello();
  await waitFor(() => agent.snapshots.length === 1, 'v1');
  t.equal(feed.subscribers, 1);
  const closing = server.close();
  t.equal(server.close(), closing, 'the same drain');
  t.match(await agent.status, { code: status.UNAVAILABLE, details: /shutting down/ });
  await closing;
  t.equal(feed.subscribers, 0);
  t.equal(server.nodeStats('node-a')?.connected, false);
  server.destroy();
  server.destroy();
  await t.rejects(server.start(0, '127.0.0.1'), { code: 'MESHLET_ERR_CLOSED' });
});

t.test('a certificate without the controller identity is refused at construction', async (t) => {
  const workload = await pki.issue('spiffe://cluster.local/ns/demo/sa/web');
  let err: unknown;
  try {
    new AgentApiServer({
      feed: new FakeFeed(),
      authenticator: new FakeAuthenticator({}),
      signer: { sign: async () => ({ chainPem: '', trustBundlePem: '' }) },
      logger: silent,
      tls: { ...workload, trustBundlePem: pki.ca.trustBundlePem },
      trustDomain: TRUST_DOMAIN,
    });
  } catch (e) {
    err = e;
  }
  t.ok(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'));
  t.match((err as MeshletError).message, 'spiffe://cluster.local/ns/meshlet-system/sa/meshlet-controller');
});

t.test('SignCertificate: signed for the authenticated node, refusals mapped to gRPC statuses with the meshlet code', async (t) => {
  const web = 'spiffe://cluster.local/ns/demo/sa/web';
  const signer = new FakeSigner(pki.ca, { 'node-a': [web] });
  const { address } = await startServer(t, pki, new FakeFeed(), { signer });
  const client = rawClient(t, pki, address);

  const ok = await rawSign(client, 'token-a', await pki.csr(web), web);
  if (!('chainPem' in ok) || 'code' in ok) throw new Error(`expected a chain, got ${String(ok)}`);
  t.same(certificateInfo(ok.chainPem).identities, [web]);
  t.same(signer.calls, [{ node: 'node-a', identity: web }], 'signed for the node the token proves');

  const db = 'spiffe://cluster.local/ns/demo/sa/db';
  const notHere = await rawSign(client, 'token-a', await pki.csr(db), db);
  t.match(notHere, { code: status.PERMISSION_DENIED, details: /no workload with identity .*db is scheduled on node node-a/ });
  t.equal((notHere as ServiceError).metadata.get(ERROR_CODE_METADATA)[0], 'MESHLET_ERR_CERT_NOT_AUTHORIZED');

  const mismatched = await rawSign(client, 'token-a', await pki.csr(db), web);
  t.match(mismatched, { code: status.INVALID_ARGUMENT, details: /CSR asks for .*db, not the identity being issued/ });
  t.equal((mismatched as ServiceError).metadata.get(ERROR_CODE_METADATA)[0], 'MESHLET_ERR_CERT');
  t.match(await rawSign(client, 'token-a', 'not a csr', web), { code: status.INVALID_ARGUMENT });
  t.match(await rawSign(client, 'token-a', '', web), { code: status.INVALID_ARGUMENT, details: /needs both csr_pem and identity/ });
  t.match(await rawSign(client, 'nope', await pki.csr(web), web), { code: status.UNAUTHENTICATED });
  t.equal(signer.calls.length, 4, 'unauthenticated and empty requests never reach the signer');
});

t.test('an error that is not a MeshletError is a bare INTERNAL', async (t) => {
  const signer = { sign: async (): Promise<never> => Promise.reject(new Error('/secret/path/ca.key: EACCES')) };
  const { address } = await startServer(t, pki, new FakeFeed(), { signer });
  const web = 'spiffe://cluster.local/ns/demo/sa/web';
  t.match(await rawSign(rawClient(t, pki, address), 'token-a', await pki.csr(web), web), { code: status.INTERNAL, details: 'internal error in the controller' });
});

t.test('before the first state a stream waits; the first state is pushed when it comes', async (t) => {
  const feed = new FakeFeed();
  const { server, address } = await startServer(t, pki, feed);
  const agent = new RawAgent(t, rawClient(t, pki, address), 'token-a');
  agent.hello();
  await waitFor(() => server.nodeStats('node-a')?.connected === true, 'accepted');
  // The server marks the node connected before its response headers reach the client: wait
  // for the headers themselves (reading agent.headers here raced them).
  await agent.accepted;
  t.equal(agent.headers, true, 'accepted with nothing to send yet');
  t.same(agent.snapshots, []);
  feed.publish(state1, 'v1');
  await waitFor(() => agent.snapshots.length === 1, 'the first state');
  t.equal(agent.versions[0], 'v1');
});

t.test('close() and destroy() of a server that never started', async (t) => {
  const make = (): AgentApiServer =>
    new AgentApiServer({ feed: new FakeFeed(), authenticator: new FakeAuthenticator({}), signer: new FakeSigner(pki.ca, {}), logger: silent, tls: pki.tls, trustDomain: TRUST_DOMAIN });
  const closed = make();
  await closed.close();
  const destroyed = make();
  destroyed.destroy();
  await destroyed.close();
  // Both are closed for good: neither binds a port afterwards.
  await t.rejects(closed.start(0, '127.0.0.1'), { code: 'MESHLET_ERR_CLOSED' });
  await t.rejects(destroyed.start(0, '127.0.0.1'), { code: 'MESHLET_ERR_CLOSED' });
});
