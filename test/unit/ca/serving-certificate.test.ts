/**
 * The controller's serving certificate: its profile, and a real node:tls server using it that
 * a client accepts by the controller's SPIFFE ID (and by DNS name, the default check), under
 * a generated root and under an operator intermediate.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { checkServerIdentity, connect, createServer, type PeerCertificate } from 'node:tls';
import forge from 'node-forge';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { controllerIdentity, issueServingCertificate, type ServingCertificate } from '../../../src/ca/serving-certificate.js';
import { spiffeIdsFromSubjectAltName } from '../../../src/mesh/identity.js';
import { newCa, silentLogger, tempDir, type Teardown } from './ca-fixture.js';
import { keyPool, makeCaCert, writeCaFiles } from './operator-ca-fixture.js';

const CONTROLLER = controllerIdentity('cluster.local');
const DNS = 'meshlet-controller.meshlet-system.svc';

/** Serves `cert` on 127.0.0.1:0; a client trusting `caPem` connects with `check` and reports. */
async function handshake(
  t: Teardown,
  cert: ServingCertificate,
  caPem: string,
  check: (host: string, peer: PeerCertificate) => Error | undefined,
  servername?: string,
): Promise<string> {
  const server = createServer({ key: cert.keyPem, cert: cert.chainPem }, (s) => s.end('hello'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  let timer: NodeJS.Timeout | undefined;
  t.teardown(() => clearTimeout(timer));
  return new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), 5000);
    const socket = connect({ host: '127.0.0.1', port, ca: caPem, checkServerIdentity: check, ...(servername === undefined ? {} : { servername }) });
    t.teardown(() => socket.destroy());
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => resolve(data));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

const bySpiffeId = (want: string) => (_host: string, peer: PeerCertificate): Error | undefined =>
  spiffeIdsFromSubjectAltName(peer.subjectaltname ?? '').includes(want) ? undefined : new Error(`not ${want}`);

t.test('the serving certificate profile', async (t) => {
  const ca = await newCa(t);
  t.equal(CONTROLLER, 'spiffe://cluster.local/ns/meshlet-system/sa/meshlet-controller');
  const cert = await issueServingCertificate(ca, { identity: CONTROLLER, dnsNames: [DNS], ipAddresses: ['127.0.0.1', '::1'], ttlSeconds: 3600 });
  const x509 = new X509Certificate(cert.certPem);
  t.equal(x509.subjectAltName, `URI:${CONTROLLER}, DNS:${DNS}, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1`);
  t.same(x509.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extKeyUsage serverAuth only');
  t.notOk(x509.ca);
  t.ok(x509.checkPrivateKey((await import('node:crypto')).createPrivateKey(cert.keyPem)), 'the key belongs to the certificate');
  t.ok(x509.verify(new X509Certificate(ca.trustBundlePem).publicKey), 'signed by the CA');
  t.equal(cert.chainPem, cert.certPem, 'no intermediates under a generated root');
  t.equal(cert.notAfter.getTime() - Date.now() <= 3600_000 && cert.notAfter.getTime() - Date.now() > 3500_000, true, 'the TTL is applied');
  const ext = forge.pki.certificateFromPem(cert.certPem).getExtension('subjectAltName') as { critical: boolean };
  t.equal(ext.critical, true, 'the SAN is critical (empty subject)');
});

t.test('a node:tls server with it is accepted by a client checking the SPIFFE ID', async (t) => {
  const ca = await newCa(t);
  const cert = await issueServingCertificate(ca, { identity: CONTROLLER, dnsNames: [DNS], ipAddresses: ['127.0.0.1'] });
  t.equal(await handshake(t, cert, ca.trustBundlePem, bySpiffeId(CONTROLLER)), 'hello', 'the SPIFFE ID check passes');
  t.equal(await handshake(t, cert, ca.trustBundlePem, checkServerIdentity, DNS), 'hello', 'the default host check passes for the DNS name');
  t.equal(await handshake(t, cert, ca.trustBundlePem, checkServerIdentity), 'hello', 'and for the IP address');
  t.equal(await handshake(t, cert, ca.trustBundlePem, bySpiffeId('spiffe://cluster.local/ns/demo/sa/web')), 'not spiffe://cluster.local/ns/demo/sa/web', 'another identity is refused');
  t.equal(await handshake(t, cert, ca.trustBundlePem, checkServerIdentity, 'other.example'), 'ERR_TLS_CERT_ALTNAME_INVALID', 'another DNS name is refused');
  const other = await newCa(t);
  t.equal(await handshake(t, cert, other.trustBundlePem, bySpiffeId(CONTROLLER)), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'a client of another CA refuses it');
});

t.test('under an operator intermediate, the server presents the intermediate', async (t) => {
  const [rootKey, intKey] = (await keyPool(2)) as [string, string];
  const root = makeCaCert({ cn: 'org root', keyPem: rootKey });
  const inter = makeCaCert({ cn: 'mesh intermediate', keyPem: intKey, issuer: root });
  const paths = await writeCaFiles(await tempDir(t), { cert: inter.certPem, key: inter.keyPem, bundle: root.certPem });
  const ca = await CertificateAuthority.fromFiles({ ...paths, trustDomain: 'cluster.local', logger: silentLogger });
  const cert = await issueServingCertificate(ca, { identity: CONTROLLER, dnsNames: [DNS] });
  t.not(cert.chainPem, cert.certPem, 'the chain carries the intermediate');
  t.equal(await handshake(t, cert, root.certPem, bySpiffeId(CONTROLLER)), 'hello', 'a client trusting only the root accepts it');
});

t.test('bad names, identities and TTLs are refused', async (t) => {
  const ca = await newCa(t);
  await t.rejects(issueServingCertificate(ca, { identity: 'spiffe://example.org/ns/meshlet-system/sa/meshlet-controller' }), {
    code: 'MESHLET_ERR_CERT',
    message: /outside this CA's trust domain cluster\.local/,
  });
  await t.rejects(issueServingCertificate(ca, { identity: CONTROLLER, dnsNames: ['Bad_Name', DNS], ipAddresses: ['10.0.0.300'] }), {
    code: 'MESHLET_ERR_CERT',
    message: /invalid DNS name "Bad_Name", IP address "10\.0\.0\.300"/,
  });
  await t.rejects(issueServingCertificate(ca, { identity: 'https://controller' }), { code: 'MESHLET_ERR_CERT' });
  await t.rejects(issueServingCertificate(ca, { identity: CONTROLLER, ttlSeconds: 0 }), { code: 'MESHLET_ERR_CERT', message: /ttlSeconds/ });
});
