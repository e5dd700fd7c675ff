/**
 * The agent's controller client against the real agent API server on 127.0.0.1:0 with real
 * TLS: snapshots applied and acknowledged, NACKs for bad data and failed applies, the
 * controller's identity, reconnection with backoff and resync, signing, logging once per state.
 */
import t from 'tap';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ControllerClient } from '../../../src/agent/control/client.js';
import { agentApiClientConstructor } from '../../../src/agent/control/proto.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { buildClusterState, computeSnapshot } from '../../../src/mesh/snapshot.js';
import { certificateInfo } from '../../../src/mesh/x509.js';
import {
  FakeFeed,
  FakeSigner,
  makePki,
  recordingLogger,
  silent,
  startClient,
  startServer,
  TRUST_DOMAIN,
  waitFor,
} from '../controller/agent-api/harness.js';
import { twoNodeObjects } from '../mesh/fixture.js';

const pki = await makePki(t);
const state1 = buildClusterState(twoNodeObjects());
const state2 = buildClusterState(twoNodeObjects().filter((o) => !(o.kind === 'Pod' && o.name === 'web-1')));

t.test('connects, applies each snapshot through onSnapshot and ACKs it', async (t) => {
  const feed = new FakeFeed();
  feed.publish(state1, 'v1');
  // An agent one minor behind its controller: served (the version-skew policy).
  const { server, address } = await startServer(t, pki, feed, { controllerVersion: '1.3.0' });
  const metas: string[] = [];
  const { client, applied } = startClient(t, pki, address, {
    agentVersion: '1.2.3',
    onSnapshot: async (s, meta) => {
      applied.push(s);
      metas.push(meta.trustBundlePem);
    },
  });
  await waitFor(() => server.nodeStats('node-a')?.lastAckedVersion === 'v1', 'the ACK of v1');
  t.ok(client.connected);
  t.equal(client.heldVersion, 'v1');
  t.strictSame(applied, [computeSnapshot(state1, 'node-a', 'v1')], 'exactly what the controller computed');
  t.same(metas, [pki.ca.trustBundlePem]);
  t.equal(server.nodeStats('node-a')?.agentVersion, '1.2.3');

  feed.publish(state2, 'v2');
  await waitFor(() => server.nodeStats('node-a')?.lastAckedVersion === 'v2', 'the ACK of v2');
  t.equal(applied.length, 2);
  t.same(applied[1]?.localWorkloads.map((w) => w.uid), ['Pod/demo/client', 'Pod/shop/cart']);
  t.equal(client.heldVersion, 'v2');
});

t.test('a snapshot the agent cannot apply is NACKed with the reason; the held version stays', async (t) => {
  const feed = new FakeFeed();
  feed.publish(state1, 'v1');
  const { server, address } = await startServer(t, pki, feed);
  let fail = false;
  const { client, applied } = startClient(t, pki, address, {
    onSnapshot: async (s) => {
      if (fail) throw new Error('capture rules could not be applied');
      applied.push(s);
    },
  });
  await waitFor(() => client.heldVersion === 'v1', 'v1 applied');
  fail = true;
  feed.publish(state2, 'v2');
  await waitFor(() => server.nodeStats('node-a')?.nacks === 1, 'the NACK');
  t.match(server.nodeStats('node-a'), { lastNackVersion: 'v2', lastNackReason: 'the agent could not apply it: capture rules could not be applied', lastAckedVersion: 'v1' });
  t.equal(client.heldVersion, 'v1', 'the agent still holds v1');
  t.equal(applied.length, 1);
});

t.test('bad data is NACKed naming the field, and never reaches onSnapshot', async (t) => {
  const feed = new FakeFeed();
  // A controller whose state is in another trust domain than the agent's.
  feed.publish(buildClusterState(twoNodeObjects(), { trustDomain: 'other.example' }), 'v1');
  const { server, address } = await startServer(t, pki, feed);
  const { applied } = startClient(t, pki, address);
  await waitFor(() => server.nodeStats('node-a')?.nacks === 1, 'the NACK');
  t.match(server.nodeStats('node-a')?.lastNackReason, /^snapshot "v1" is invalid .*cluster\.trustDomain: "other\.example" is not this agent's trust domain "cluster\.local"/);
  t.same(applied, []);

  const feed2 = new FakeFeed();
  feed2.publish(state1, 'v1');
  const bad = await startServer(t, pki, feed2, { tls: { ...pki.tls, trustBundlePem: 'not a certificate' } });
  const second = startClient(t, pki, bad.address);
  await waitFor(() => bad.server.nodeStats('node-a')?.nacks === 1, 'the NACK of a bad trust bundle');
  t.match(bad.server.nodeStats('node-a')?.lastNackReason, 'trustBundlePem: not a readable PEM certificate');
  t.same(second.applied, []);
});

t.test('a wrong token: not connected, the error exposed, logged once however many retries', async (t) => {
  const feed = new FakeFeed();
  feed.publish(state1, 'v1');
  const { address } = await startServer(t, pki, feed);
  const { logger, lines } = recordingLogger();
  let reads = 0;
  const { client } = startClient(t, pki, address, {
    logger,
    credentials: async () => {
      reads += 1;
      return 'wrong';
    },
  });
  await waitFor(() => reads >= 4, 'several attempts');
  t.notOk(client.connected);
  t.ok(isMeshletError(client.lastError, 'MESHLET_ERR_UNAUTHENTICATED'), 'MESHLET_ERR_UNAUTHENTICATED');
  t.match(client.lastError?.message, 'UNAUTHENTICATED: unknown join token');
  const warnings = lines.filter((l) => l['level'] === 40);
  t.equal(warnings.length, 1, 'one warning for the state change, not one per retry');
  t.match(warnings[0], { msg: 'cannot reach the controller; retrying with backoff', component: 'controller-client' });
  t.ok(reads >= 4, 'the token is read again for every attempt');
});

t.test('the controller must carry the controller identity, and chain to the configured CA', async (t) => {
  // A gRPC server of the right CA with a workload's certificate: the handshake must fail.
  const impostor = await pki.issue('spiffe://cluster.local/ns/demo/sa/web');
  const server = new Server();
  server.addService(agentApiClientConstructor().service, {});
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(impostor.certPem), private_key: Buffer.from(impostor.keyPem) }]), (e, p) => (e ? reject(e) : resolve(p))),
  );
  t.teardown(() => server.forceShutdown());
  const applied: unknown[] = [];
  const { client } = startClient(t, pki, `127.0.0.1:${port}`, { onSnapshot: async (s) => void applied.push(s) });
  await waitFor(() => client.lastError !== undefined, 'a failed attempt');
  t.notOk(client.connected);
  t.match(client.lastError?.message, /UNAVAILABLE.*certificate is for spiffe:\/\/cluster\.local\/ns\/demo\/sa\/web, not spiffe:\/\/cluster\.local\/ns\/meshlet-system\/sa\/meshlet-controller/);
  await t.rejects(client.sign('csr', 'spiffe://cluster.local/ns/demo/sa/web'), { code: 'MESHLET_ERR_CONTROLLER' }, 'signing fails too: no CSR goes to an impostor');

  // The real controller, but the agent trusts another CA.
  const feed = new FakeFeed();
  feed.publish(state1, 'v1');
  const real = await startServer(t, pki, feed);
  const otherPki = await makePki(t);
  const stranger = startClient(t, otherPki, real.address);
  await waitFor(() => stranger.client.lastError !== undefined, 'a failed attempt');
  t.notOk(stranger.client.connected);
  t.match(stranger.client.lastError?.message, /UNAVAILABLE.*unable to verify/);
  t.equal(real.server.stats().length, 0, 'no stream reached the controller');
});

t.test('controller stopped: the agent keeps its snapshot, reconnects with backoff, and resyncs on return', async (t) => {
  const feed = new FakeFeed();
  feed.publish(state1, 'v1');
  const first = await startServer(t, pki, feed);
  const { logger, lines } = recordingLogger();
  let connects = 0;
  const { client, applied } = startClient(t, pki, first.address, { logger, backoff: { initialMs: 20, maxMs: 100 }, onConnected: () => (connects += 1) });
  await waitFor(() => client.heldVersion === 'v1', 'v1');
  t.equal(connects, 1, 'onConnected told of the first connection');
  await first.server.close();
  await waitFor(() => !client.connected, 'the disconnect');
  t.equal(client.heldVersion, 'v1', 'the agent keeps serving with v1');
  // The controller stays away a while so that retries fail (the scenario, not a wait for an
  // event); the reconnect's log line below says how many did.
  await new Promise((r) => setTimeout(r, 300));
  const lost = lines.filter((l) => l['level'] === 40);
  t.equal(lost.length, 1, 'the loss is logged once while retries fail');
  t.match(lost[0], { msg: /lost the controller/ });

  // A new controller on the same port, with the same v1 and then a v2.
  const second = await startServer(t, pki, feed, { port: first.port });
  await waitFor(() => client.connected, 'the reconnect', 30_000);
  const failedAttempts = Number(lines.filter((l) => l['msg'] === 'connected to the controller')[1]?.['failedAttempts']);
  t.ok(failedAttempts >= 2, `retries failed while the controller was away (${failedAttempts}), yet the loss was logged once`);
  t.equal(lines.filter((l) => l['level'] === 40).length, 1, 'still one warning');
  await waitFor(() => second.server.nodeStats('node-a')?.lastAckedVersion === 'v1', 'the Hello held v1');
  t.equal(applied.length, 1, 'v1 was not resent: the Hello said the agent holds it');
  t.equal(second.server.nodeStats('node-a')?.snapshotsSent, 0);
  feed.publish(state2, 'v2');
  await waitFor(() => client.heldVersion === 'v2', 'v2 after the reconnect');
  t.equal(lines.filter((l) => l['msg'] === 'connected to the controller').length, 2, 'connected, then reconnected');
  t.equal(connects, 2, 'onConnected told of the reconnection (the agent retries failed certificates then), not of each failed retry');
});

t.test('a controller back with a newer state resyncs the agent at once', async (t) => {
  const feed = new FakeFeed();
  feed.publish(state1, 'v1');
  const first = await startServer(t, pki, feed);
  const { client, applied } = startClient(t, pki, first.address);
  await waitFor(() => client.heldVersion === 'v1', 'v1');
  first.server.destroy();
  await waitFor(() => !client.connected, 'the disconnect');
  const feed2 = new FakeFeed();
  feed2.publish(state2, 'v7');
  await startServer(t, pki, feed2, { port: first.port });
  await waitFor(() => client.heldVersion === 'v7', 'v7 from the new controller', 5_000);
  t.same(applied.map((s) => s.version), ['v1', 'v7']);
});

t.test('sign(): a round trip, a refused identity and a bad CSR surface as MeshletError codes', async (t) => {
  const web = 'spiffe://cluster.local/ns/demo/sa/web';
  const feed = new FakeFeed();
  const { address } = await startServer(t, pki, feed, { signer: new FakeSigner(pki.ca, { 'node-a': [web] }) });
  const { client } = startClient(t, pki, address);
  const signed = await client.sign(await pki.csr(web), web);
  t.same(certificateInfo(signed.chainPem).identities, [web]);
  t.equal(signed.trustBundlePem, pki.ca.trustBundlePem);

  const db = 'spiffe://cluster.local/ns/demo/sa/db';
  await t.rejects(client.sign(await pki.csr(db), db), { code: 'MESHLET_ERR_CERT_NOT_AUTHORIZED', message: /PERMISSION_DENIED: no workload with identity/ });
  await t.rejects(client.sign('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', web), { code: 'MESHLET_ERR_CERT', message: /INVALID_ARGUMENT/ });
  const noToken = startClient(t, pki, address, { credentials: async () => Promise.reject(new Error('token file missing')) });
  await t.rejects(noToken.client.sign(await pki.csr(web), web), { code: 'MESHLET_ERR_UNAUTHENTICATED', message: /token file missing/ });
});

t.test('sign() gives up at its deadline when the controller does not answer', async (t) => {
  const web = 'spiffe://cluster.local/ns/demo/sa/web';
  const never = { sign: (): Promise<never> => new Promise(() => undefined) };
  const { address } = await startServer(t, pki, new FakeFeed(), { signer: never, drainTimeoutMs: 50 });
  const { client } = startClient(t, pki, address, { signTimeoutMs: 200 });
  // The CSR first: making it (a key pair) can take seconds on a loaded machine, and is not the sign call.
  const csr = await pki.csr(web);
  const started = Date.now();
  await t.rejects(client.sign(csr, web), { code: 'MESHLET_ERR_CONTROLLER', message: /DEADLINE_EXCEEDED/ });
  t.ok(Date.now() - started < 2_000, `gave up after ${Date.now() - started} ms (deadline 200 ms)`);
});

t.test('close() is idempotent; a closed client signs nothing and cannot start again', async (t) => {
  const feed = new FakeFeed();
  feed.publish(state1, 'v1');
  const { server, address } = await startServer(t, pki, feed);
  const client = new ControllerClient({
    address,
    caPem: pki.ca.trustBundlePem,
    node: 'node-a',
    credentials: async () => 'token-a',
    trustDomain: TRUST_DOMAIN,
    logger: silent,
    onSnapshot: async () => undefined,
  });
  client.start();
  client.start();
  await waitFor(() => client.connected, 'connected');
  await Promise.all([client.close(), client.close()]);
  await client.close();
  await waitFor(() => server.nodeStats('node-a')?.connected === false, 'the stream ended at the controller');
  await t.rejects(client.sign('csr', 'id'), { code: 'MESHLET_ERR_CLOSED' });
  t.throws(() => client.start(), { code: 'MESHLET_ERR_CLOSED' });
});
