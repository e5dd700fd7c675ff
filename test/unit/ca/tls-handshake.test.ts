/**
 * Issued certificates really work with node:tls: mutual TLS between two workload identities on
 * 127.0.0.1, each side reading the other's SPIFFE ID; foreign and expired certificates fail.
 */
import t from 'tap';
import { connect, createServer, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { spiffeIdsFromSubjectAltName } from '../../../src/mesh/identity.js';
import { issue, newCa, type Credentials, type Teardown } from './ca-fixture.js';

const SERVER_ID = 'spiffe://cluster.local/ns/demo/sa/server';
const CLIENT_ID = 'spiffe://cluster.local/ns/demo/sa/client';

/** What one side saw: the peer's SPIFFE IDs after a good handshake, or the error code. */
interface SideResult {
  peerIds?: string[];
  error?: string;
  /** Set when the server accepted an unverified client (observe mode only). */
  authorizationError?: string;
}

function peerIds(socket: TLSSocket): string[] {
  const cert: PeerCertificate = socket.getPeerCertificate();
  return spiffeIdsFromSubjectAltName(cert.subjectaltname ?? '');
}

/**
 * One mutual-TLS handshake; each side trusts its own bundle. Bounded by a 5 s timer. With
 * `observe`, the server does not reject an unverified client but reports why it failed: Node
 * reports a rejected client only as a hang-up, so this is how a test sees the reason.
 */
async function handshake(
  t: Teardown,
  server: Credentials,
  serverTrust: string,
  client: Credentials,
  clientTrust: string,
  observe = false,
): Promise<{ server: SideResult; client: SideResult }> {
  const srv = createServer({ key: server.keyPem, cert: server.chainPem, ca: serverTrust, requestCert: true, rejectUnauthorized: !observe });
  const serverSide = new Promise<SideResult>((resolve) => {
    srv.on('secureConnection', (socket) => {
      const ids = peerIds(socket);
      socket.end(ids.join(','));
      const why = socket.authorizationError;
      resolve(why === null || why === undefined ? { peerIds: ids } : { peerIds: ids, authorizationError: String(why) });
    });
    srv.on('tlsClientError', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.teardown(() => srv.close());
  const { port } = srv.address() as AddressInfo;
  const clientSide = new Promise<SideResult>((resolve) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      key: client.keyPem,
      cert: client.chainPem,
      ca: clientTrust,
      // The peer is named by its SPIFFE ID, not a host name: check that instead.
      checkServerIdentity: (_host, cert) =>
        spiffeIdsFromSubjectAltName(cert.subjectaltname ?? '').includes(SERVER_ID) ? undefined : new Error('wrong server identity'),
    });
    t.teardown(() => socket.destroy());
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('end', () => resolve({ peerIds: peerIds(socket), ...(received === '' ? { error: 'no data' } : {}) }));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<SideResult>((resolve) => {
    timer = setTimeout(() => resolve({ error: 'timeout' }), 5000);
  });
  t.teardown(() => clearTimeout(timer));
  const [s, c] = await Promise.all([Promise.race([serverSide, timeout]), Promise.race([clientSide, timeout])]);
  return { server: s, client: c };
}

t.test('two issued identities authenticate each other over mutual TLS', async (t) => {
  const ca = await newCa(t);
  const server = await issue(ca, SERVER_ID);
  const client = await issue(ca, CLIENT_ID);
  const result = await handshake(t, server, ca.trustBundlePem, client, ca.trustBundlePem);
  t.same(result.server, { peerIds: [CLIENT_ID] }, 'server reads the client identity (and verified it)');
  t.same(result.client, { peerIds: [SERVER_ID] }, 'client reads the server identity');
});

t.test('a client certificate from another CA is rejected by the server', async (t) => {
  const ca = await newCa(t);
  const other = await newCa(t);
  const server = await issue(ca, SERVER_ID);
  const intruder = await issue(other, CLIENT_ID);
  const result = await handshake(t, server, ca.trustBundlePem, intruder, ca.trustBundlePem);
  t.ok(result.server.error, `server refused: ${result.server.error}`);
  t.notOk(result.server.peerIds, 'no connection was accepted');
  t.ok(result.client.error, `client saw the refusal: ${result.client.error}`);
  const observed = await handshake(t, server, ca.trustBundlePem, intruder, ca.trustBundlePem, true);
  t.equal(observed.server.authorizationError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'the reason is the unknown issuer');
});

t.test('a server certificate from another CA is rejected by the client', async (t) => {
  const ca = await newCa(t);
  const other = await newCa(t);
  const impostor = await issue(other, SERVER_ID);
  const client = await issue(ca, CLIENT_ID);
  const result = await handshake(t, impostor, other.trustBundlePem, client, ca.trustBundlePem);
  t.match(result.client.error, /UNABLE_TO_VERIFY|SELF_SIGNED|CERT/, `client refused: ${result.client.error}`);
  t.notOk(result.server.peerIds, 'server never got a connection');
});

t.test('an expired certificate is rejected', async (t) => {
  const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
  const ca = await newCa(t, { now: () => twoDaysAgo });
  const server = await issue(ca, SERVER_ID, 3 * 86_400);
  const expired = await issue(ca, CLIENT_ID, 86_400);
  const result = await handshake(t, server, ca.trustBundlePem, expired, ca.trustBundlePem);
  t.ok(result.server.error, `server refused the expired client certificate: ${result.server.error}`);
  t.notOk(result.server.peerIds, 'no connection was accepted');
  const observed = await handshake(t, server, ca.trustBundlePem, expired, ca.trustBundlePem, true);
  t.equal(observed.server.authorizationError, 'CERT_HAS_EXPIRED', 'the reason is the expiry');
});
