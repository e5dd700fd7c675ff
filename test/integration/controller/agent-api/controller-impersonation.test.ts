/**
 * Issue 9, finding 5 (agent): over real TLS, an agent refuses a "controller" that presents a
 * workload certificate (serverAuth and clientAuth) for the controller's SPIFFE ID, the kind a node
 * could once get signed; the real serving certificate (serverAuth only) is accepted.
 */
import t from 'tap';
import { FakeFeed, makePki, startClient, startServer, TRUST_DOMAIN, waitFor } from '../../../unit/controller/agent-api/harness.js';
import { buildClusterState } from '../../../../src/mesh/cluster-state.js';
import { controllerIdentity } from '../../../../src/mesh/snapshot-wire/encode.js';
import { certificateInfo } from '../../../../src/mesh/x509.js';

const pki = await makePki(t);

t.test('a workload leaf carrying the controller identity is refused by the agent', async (t) => {
  // What CA.sign (the workload profile) would issue for the controller identity.
  const forged = await pki.issue(controllerIdentity(TRUST_DOMAIN));
  t.same(certificateInfo(forged.certPem).identities, [controllerIdentity(TRUST_DOMAIN)], 'fixture: the forged cert names the controller');
  const feed = new FakeFeed();
  feed.publish(buildClusterState([]), 'v1');
  const { address } = await startServer(t, pki, feed, { tls: { certPem: forged.certPem, keyPem: forged.keyPem, trustBundlePem: pki.ca.trustBundlePem } });
  const { client, applied } = startClient(t, pki, address);
  await waitFor(() => client.lastError !== undefined, 'the first failed connection', 20_000);
  t.equal(client.connected, false);
  t.same(applied, [], 'no snapshot taken from the impostor');
  t.match(client.lastError?.message, /not a controller serving certificate/);
});

t.test('the controller serving certificate is accepted', async (t) => {
  const feed = new FakeFeed();
  feed.publish(buildClusterState([]), 'v1');
  const { address } = await startServer(t, pki, feed);
  const { client, applied } = startClient(t, pki, address);
  await waitFor(() => applied.length === 1, 'the snapshot', 20_000);
  t.equal(client.connected, true);
});
