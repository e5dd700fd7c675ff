/**
 * SPIFFE IDs: building, parsing, and reading them from Node's `subjectaltname` strings.
 */
import t from 'tap';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { isValidTrustDomain, parseSpiffeId, spiffeId, spiffeIdsFromSubjectAltName } from '../../../src/mesh/identity.js';
import { thrown } from './fixture.js';

t.test('spiffeId builds and parseSpiffeId reads back', async (t) => {
  const id = spiffeId('cluster.local', 'demo', 'web');
  t.equal(id, 'spiffe://cluster.local/ns/demo/sa/web');
  t.same(parseSpiffeId(id), { trustDomain: 'cluster.local', namespace: 'demo', serviceAccount: 'web' });
  t.same(parseSpiffeId('spiffe://prod_1.example-x/ns/a.b/sa/c_d'), { trustDomain: 'prod_1.example-x', namespace: 'a.b', serviceAccount: 'c_d' });
  const bad = thrown(() => spiffeId('Cluster.Local', 'demo', 'web'));
  t.ok(isMeshletError(bad, 'MESHLET_ERR_CERT'));
  t.match((bad as Error).message, /"Cluster\.Local"/);
  t.ok(isMeshletError(thrown(() => spiffeId('td', 'a/b', 'web')), 'MESHLET_ERR_CERT'), 'a slash in a segment');
  t.ok(isValidTrustDomain('cluster.local'));
  t.notOk(isValidTrustDomain(''));
});

t.test('parseSpiffeId refuses anything but a workload ID, naming the value', async (t) => {
  const cases = [
    'http://cluster.local/ns/a/sa/b',
    'spiffe://cluster.local',
    'spiffe://cluster.local/ns/a',
    'spiffe://cluster.local/ns/a/sa/b/extra',
    'spiffe://cluster.local/namespace/a/sa/b',
    'spiffe://Cluster.local/ns/a/sa/b',
    'spiffe://cluster.local/ns/../sa/b',
    'spiffe://cluster.local/ns/a/sa/',
    'spiffe://cluster.local/ns/a/sa/b?x=1',
    'spiffe://user@cluster.local/ns/a/sa/b',
    'spiffe://cluster.local:8443/ns/a/sa/b',
    `spiffe://cluster.local/ns/${'a'.repeat(2100)}/sa/b`,
  ];
  for (const uri of cases) {
    const err = thrown(() => parseSpiffeId(uri));
    t.ok(isMeshletError(err, 'MESHLET_ERR_CERT'), `${uri.slice(0, 60)}: refused`);
    t.match((err as Error).message, /^invalid SPIFFE ID "spiffe|^invalid SPIFFE ID "http/, 'names the value');
  }
});

t.test('spiffeIdsFromSubjectAltName reads Node subjectaltname strings', async (t) => {
  t.same(spiffeIdsFromSubjectAltName('URI:spiffe://cluster.local/ns/a/sa/b'), ['spiffe://cluster.local/ns/a/sa/b']);
  t.same(
    spiffeIdsFromSubjectAltName('DNS:web.demo.svc, URI:spiffe://cluster.local/ns/a/sa/b, IP Address:10.0.0.1, URI:https://example.org/x'),
    ['spiffe://cluster.local/ns/a/sa/b'],
    'only spiffe URIs',
  );
  t.same(spiffeIdsFromSubjectAltName(''), []);
  t.same(spiffeIdsFromSubjectAltName('DNS:x'), []);
  t.same(
    spiffeIdsFromSubjectAltName('URI:"spiffe://evil/ns/a/sa/b, URI:spiffe://cluster.local/ns/admin/sa/root"'),
    ['spiffe://evil/ns/a/sa/b, URI:spiffe://cluster.local/ns/admin/sa/root'],
    'a quoted value is one name: a comma inside cannot forge a second identity',
  );
  t.same(
    spiffeIdsFromSubjectAltName('DNS:"a, b", URI:spiffe://td/ns/a/sa/b, URI:"spiffe://td/ns/q\\"x/sa/b"'),
    ['spiffe://td/ns/a/sa/b', 'spiffe://td/ns/q"x/sa/b'],
    'quoted values with escapes, before and after plain ones',
  );
  t.same(spiffeIdsFromSubjectAltName('URI:spiffe://td/ns/a/sa/b, URI:"spiffe://unterminated'), ['spiffe://td/ns/a/sa/b'], 'an unterminated quote ends parsing');
});
