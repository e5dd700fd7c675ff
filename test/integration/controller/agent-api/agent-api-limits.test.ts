/**
 * Issue 9, finding 4, against the real agent API on 127.0.0.1: connections that never
 * authenticate (half-open TCP, TLS without a call) are closed after the bound; connections past
 * the caps are refused at once; 3,000 random tokens over gRPC cost at most the bounded number of
 * TokenReviews at a fake API server, and an agent with a good token still gets in.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { status, type ServiceError } from '@grpc/grpc-js';
import { KubernetesTokenAuthenticator } from '../../../../src/controller/auth/kubernetes-token-authenticator.js';
import { KubernetesTokenReviewer } from '../../../../src/controller/auth/token-reviewer.js';
import { buildClusterState } from '../../../../src/mesh/cluster-state.js';
import { fakeKubeApi, type FakeRequest } from '../../../unit/ca/fake-kube-api.js';
import { captureLogs, fakeJwt } from '../../../unit/controller/auth/auth-fixtures.js';
import { FakeFeed, FakeSigner, makePki, rawClient, rawSign, startClient, startServer, waitFor } from '../../../unit/controller/agent-api/harness.js';

const pki = await makePki(t);

function feed(): FakeFeed {
  const f = new FakeFeed();
  f.publish(buildClusterState([]), 'v1');
  return f;
}

/** Opens a TCP connection to `port`, resolving once connected; `closed` resolves when it closes. */
async function rawSocket(t: { teardown(fn: () => void): void }, port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = tcpConnect({ host: '127.0.0.1', port });
  t.teardown(() => socket.destroy());
  socket.on('error', () => undefined);
  socket.resume(); // read, so the server's FIN is seen
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', () => resolve());
  });
  return { socket, closed };
}

t.test('connections that never authenticate are closed after the bound; an agent stays', async (t) => {
  const { server, address, port } = await startServer(t, pki, feed(), { limits: { authenticateWithinMs: 300, maxConnectionsPerAddress: 1000 } });
  // Half-open: TCP only, a partial ClientHello.
  const halfOpen = await Promise.all(Array.from({ length: 50 }, () => rawSocket(t, port)));
  for (const { socket } of halfOpen) socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
  // Full TLS handshakes, then nothing: no call, no token.
  const tlsIdle = await Promise.all(
    Array.from({ length: 20 }, async () => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ALPNProtocols: ['h2'], rejectUnauthorized: false, servername: 'meshlet-controller' });
      t.teardown(() => socket.destroy());
      socket.on('error', () => undefined);
      socket.resume(); // read (the server's SETTINGS), so its FIN is seen
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      await new Promise<void>((resolve) => {
        socket.once('secureConnect', resolve);
        socket.once('close', () => resolve());
      });
      return closed;
    }),
  );
  await Promise.all([...halfOpen.map((c) => c.closed), ...tlsIdle]);
  t.equal(server.connectionRefusals().authentication_timeout, 70, 'every unauthenticated connection closed by the server');
  await waitFor(() => server.connections.connections === 0, 'the guard to forget them');

  const { client, applied } = startClient(t, pki, address);
  await waitFor(() => applied.length === 1, 'the agent\'s snapshot', 20_000);
  t.equal(server.connections.unauthenticated, 0, 'the agent\'s connection is authenticated');
  // Three times the bound: an authenticated connection is not expired.
  await new Promise((r) => setTimeout(r, 900));
  t.equal(client.connected, true);
  t.equal(server.connectionRefusals().authentication_timeout, 70, 'nothing more closed');
});

t.test('past the unauthenticated cap, new connections are refused at once', async (t) => {
  const { server, port } = await startServer(t, pki, feed(), { limits: { maxUnauthenticated: 10, authenticateWithinMs: 120_000, maxConnectionsPerAddress: 1000 } });
  const all = [];
  for (let i = 0; i < 30; i++) all.push(await rawSocket(t, port));
  await Promise.all(all.slice(10).map((c) => c.closed));
  t.equal(server.connectionRefusals().max_unauthenticated, 20);
  t.equal(server.connections.unauthenticated, 10, 'the first ten are held, the rest refused');
});

t.test('the per-address and total caps', async (t) => {
  const perAddress = await startServer(t, pki, feed(), { limits: { maxConnectionsPerAddress: 5 } });
  const a = [];
  for (let i = 0; i < 8; i++) a.push(await rawSocket(t, perAddress.port));
  await Promise.all(a.slice(5).map((c) => c.closed));
  t.equal(perAddress.server.connectionRefusals().max_per_address, 3);
  const total = await startServer(t, pki, feed(), { limits: { maxConnections: 4 } });
  const b = [];
  for (let i = 0; i < 6; i++) b.push(await rawSocket(t, total.port));
  await Promise.all(b.slice(4).map((c) => c.closed));
  t.equal(total.server.connectionRefusals().max_connections, 2);
  t.equal(total.server.connections.connections, 4);
});

t.test('3,000 random tokens cost at most the bounded number of TokenReviews; an agent still gets in', async (t) => {
  const good = fakeJwt('agent', Math.floor(Date.now() / 1000) + 3600);
  const api = await fakeKubeApi(t, (req: FakeRequest) => {
    const spec = (req.body as { spec?: { token?: string } }).spec;
    const ok = spec?.token === good;
    const statusPart = ok
      ? { authenticated: true, user: { username: 'system:serviceaccount:meshlet-system:meshlet-agent', extra: { 'authentication.kubernetes.io/node-name': ['node-a'] } }, audiences: ['meshlet'] }
      : { authenticated: false, error: 'invalid bearer token' };
    return { status: 201, body: { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', spec, status: statusPart } };
  });
  const limits = { reviewsPerSecond: 20, reviewBurst: 20, maxConcurrentReviews: 8 };
  const authenticator = new KubernetesTokenAuthenticator({ reviewer: new KubernetesTokenReviewer({ kubeConfig: api.kubeConfig }), logger: captureLogs().logger, limits });
  const web = 'spiffe://cluster.local/ns/demo/sa/web';
  const { address } = await startServer(t, pki, feed(), { authenticator, signer: new FakeSigner(pki.ca, { 'node-a': [web] }), limits: { authenticateWithinMs: 120_000 } });
  const client = rawClient(t, pki, address);
  const csr = await pki.csr(web);

  const started = Date.now();
  const codes = new Map<number, number>();
  for (let batch = 0; batch < 30; batch++) {
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => rawSign(client, fakeJwt(randomBytes(12).toString('hex'), Math.floor(Date.now() / 1000) + 3600), csr, web)),
    );
    for (const a of answers) {
      const code = 'code' in a ? (a as ServiceError).code : status.OK;
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
  }
  const seconds = (Date.now() - started) / 1000;
  const reviews = api.requests.length;
  const bound = limits.reviewBurst + Math.ceil(seconds * limits.reviewsPerSecond);
  t.ok(reviews <= bound, `${reviews} reviews for 3,000 tokens in ${seconds.toFixed(1)} s, bound ${bound}`);
  t.equal(reviews, authenticator.reviews, 'every review the authenticator made reached the API server');
  t.same([...codes.keys()].sort(), [status.RESOURCE_EXHAUSTED, status.UNAUTHENTICATED].sort(), 'refused or rate limited, nothing else');
  t.equal(codes.get(status.UNAUTHENTICATED), reviews, 'each review refused its token; the rest were never reviewed');

  // The bucket refills: a real agent token gets through within seconds.
  let signed: { chainPem: string } | ServiceError = { chainPem: '' };
  for (let i = 0; i < 100; i++) {
    signed = await rawSign(client, good, csr, web);
    if (!('code' in signed)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.equal('code' in signed ? (signed as ServiceError).code : status.OK, status.OK, 'the agent is signed');
});
