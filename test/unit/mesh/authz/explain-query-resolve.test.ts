/**
 * The explain query's names resolved against the mesh: every source and destination form, and
 * every error (unknown, ambiguous, outside the mesh, no port, hostile text), each naming the
 * query field and its value.
 */
import t, { type Test } from 'tap';
import { resolveDestination, resolveSource, type ExplainData } from '../../../../src/mesh/authz/explain-query.js';
import { isMeshletError } from '../../../../src/mesh/errors.js';
import { explainData } from '../../cli/policy-fixture.js';

const data = explainData();
const CLIENT = 'spiffe://cluster.local/ns/demo/sa/client';

/** The error `fn` throws; fails the test when it throws none or not a usage error. */
function usageError(t: Test, fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    t.ok(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'), `MESHLET_ERR_CONFIG_INVALID: ${(err as Error).message}`);
    return (err as Error).message;
  }
  t.fail('no error thrown');
  return '';
}

t.test('a source by workload name: pod/NS/NAME, NS/NAME, the uid, workload/NS/NAME', async (t) => {
  for (const text of ['pod/demo/client', 'demo/client', 'Pod/demo/client', 'POD/demo/client']) {
    const s = resolveSource(text, data);
    t.equal(s.workload, 'Pod/demo/client', text);
    t.equal(s.identity, CLIENT, text);
    t.equal(s.address, '198.18.1.11', text);
  }
  const vm = resolveSource('workload/demo/vm', data);
  t.equal(vm.workload, 'Workload/demo/vm');
  t.equal(vm.address, '198.18.3.5');
  t.equal(vm.identity, 'spiffe://cluster.local/ns/demo/sa/vm');
  t.equal(resolveSource('pod/demo/vm', data).workload, 'Pod/demo/vm');
});

t.test('a name both a Pod and a Workload have is ambiguous, and says how to choose', async (t) => {
  const msg = usageError(t, () => resolveSource('demo/vm', data));
  t.match(msg, /demo\/vm is ambiguous: Pod\/demo\/vm and Workload\/demo\/vm \(write pod\/demo\/vm or workload\/demo\/vm\)/);
});

t.test('a source by SPIFFE ID: the identity, no address; another trust domain is noted', async (t) => {
  const s = resolveSource('spiffe://cluster.local/ns/x/sa/y', data);
  t.equal(s.identity, 'spiffe://cluster.local/ns/x/sa/y');
  t.equal(s.address, undefined);
  t.equal(s.workload, undefined);
  t.equal(s.notes.length, 1);
  const foreign = resolveSource('spiffe://other.td/ns/x/sa/y', data);
  t.match(foreign.notes.join('\n'), /trust domain other\.td is not the mesh's \(cluster\.local\)/);
  t.match(usageError(t, () => resolveSource('spiffe://cluster.local/ns/x', data)), /^source: invalid SPIFFE ID/);
});

t.test('a source by address: a meshed workload\'s gives its identity, any other is plaintext', async (t) => {
  const meshed = resolveSource('198.18.1.11', data);
  t.equal(meshed.identity, CLIENT);
  t.equal(meshed.workload, 'Pod/demo/client');
  const outside = resolveSource('10.9.9.9', data);
  t.equal(outside.identity, undefined);
  t.equal(outside.address, '10.9.9.9');
  t.match(outside.notes[0], /no meshed workload's address: a plaintext source/);
  const legacy = resolveSource('198.18.1.50', data);
  t.equal(legacy.identity, undefined);
  t.equal(legacy.workload, 'Pod/plain/legacy');
  t.match(legacy.notes[0], /198\.18\.1\.50 is Pod\/plain\/legacy's, outside the mesh: a plaintext source/);
  t.equal(resolveSource('2001:DB8::1', data).address, '2001:db8::1', 'IPv6 in its canonical form');
});

t.test('plaintext: forces no identity, for an address or a workload; not for a bare identity', async (t) => {
  const ip = resolveSource('plaintext:198.18.1.11', data);
  t.equal(ip.identity, undefined);
  t.equal(ip.address, '198.18.1.11');
  const pod = resolveSource('plaintext:pod/demo/client', data);
  t.equal(pod.identity, undefined);
  t.equal(pod.workload, 'Pod/demo/client');
  t.equal(pod.address, '198.18.1.11');
  t.match(usageError(t, () => resolveSource(`plaintext:${CLIENT}`, data)), /plaintext needs an address/);
});

t.test('a pod outside the mesh is a plaintext source when known; unknown otherwise', async (t) => {
  const legacy = resolveSource('pod/plain/legacy', data);
  t.equal(legacy.identity, undefined);
  t.equal(legacy.address, '198.18.1.50');
  t.match(legacy.notes[0], /Pod\/plain\/legacy is outside the mesh/);
  const snapshotOnly: ExplainData = { trustDomain: data.trustDomain, workloads: data.workloads, services: data.services, authorizationPolicies: data.authorizationPolicies };
  t.match(usageError(t, () => resolveSource('pod/plain/legacy', snapshotOnly)), /no meshed workload plain\/legacy \(a node's snapshot lists meshed workloads only/);
  t.match(usageError(t, () => resolveSource('pod/demo/nope', data)), /^source "pod\/demo\/nope": no meshed workload demo\/nope$/);
});

t.test('sources that are none of the forms, empty or hostile, are refused with the value cut', async (t) => {
  for (const text of ['a/b/c/d', 'client', 'pod/Demo/x', 'svc/demo/web', '']) t.match(usageError(t, () => resolveSource(text, data)), /^source /, JSON.stringify(text));
  const long = usageError(t, () => resolveSource(`demo/${'x'.repeat(5000)}`, data));
  t.ok(long.length < 400, `the message is bounded: ${long.length} characters`);
});

t.test('a Service destination: every meshed endpoint at its target port', async (t) => {
  for (const [text, port] of [['svc/demo/web:80', undefined], ['svc/demo/web:http', undefined], ['svc/demo/web', 80], ['service/demo/web', 80], ['198.19.0.10:80', undefined], ['198.19.0.10', 80]] as const) {
    const d = resolveDestination(text, port, data);
    t.same(d.map((x) => `${x.workload.uid} ${x.address}:${x.port}`), ['Pod/demo/web-1 198.18.1.10:8080', 'Pod/demo/web-2 198.18.2.10:8080'], text);
    t.equal(d[0]?.service?.key, 'demo/web', text);
    t.equal(d[0]?.servicePort?.port, 80, text);
  }
  t.same(resolveDestination('svc/demo/web:9000', undefined, data).map((x) => x.port), [9000, 9000]);
  t.same(resolveDestination('svc/other/db', undefined, data).map((x) => `${x.workload.uid}:${x.port}`), ['Pod/other/db:5432'], 'the only port needs no naming');
});

t.test('Service destination errors: no port named, no such port, two ports, no Service, no meshed endpoint', async (t) => {
  t.match(usageError(t, () => resolveDestination('svc/demo/web', undefined, data)), /Service demo\/web has ports 80 \(http\), 9000 \(tcp-admin\): name one/);
  t.match(usageError(t, () => resolveDestination('svc/demo/web:81', undefined, data)), /Service demo\/web has no port 81 \(its ports: 80 \(http\), 9000 \(tcp-admin\)\)/);
  t.match(usageError(t, () => resolveDestination('svc/demo/web:80', 81, data)), /port 81 given as well; give one/);
  t.match(usageError(t, () => resolveDestination('198.19.0.10:80', 81, data)), /port 81 given as well; give one/);
  t.match(usageError(t, () => resolveDestination('svc/demo/nope:80', undefined, data)), /no Service demo\/nope/);
  t.match(usageError(t, () => resolveDestination('svc/plain/legacy', undefined, data)), /Service plain\/legacy port 80 has no meshed endpoint/);
});

t.test('a workload destination: by name with a port, by IP:PORT', async (t) => {
  t.same(resolveDestination('pod/demo/web-1', 8080, data).map((x) => `${x.workload.uid} ${x.address}:${x.port}`), ['Pod/demo/web-1 198.18.1.10:8080']);
  t.same(resolveDestination('demo/web-2', 8080, data).map((x) => x.workload.uid), ['Pod/demo/web-2']);
  t.same(resolveDestination('198.18.1.10:8080', undefined, data).map((x) => x.workload.uid), ['Pod/demo/web-1']);
  t.same(resolveDestination('198.18.1.10', 8080, data).map((x) => x.port), [8080]);
  t.equal(resolveDestination('198.18.1.10:8080', undefined, data)[0]?.service, undefined);
});

t.test('workload destination errors: no port, unknown, outside the mesh, bad port, an address of nothing', async (t) => {
  t.match(usageError(t, () => resolveDestination('pod/demo/web-1', undefined, data)), /a workload needs a port/);
  t.match(usageError(t, () => resolveDestination('198.18.1.10', undefined, data)), /a workload address needs a port/);
  t.match(usageError(t, () => resolveDestination('pod/demo/nope', 80, data)), /no meshed workload demo\/nope/);
  t.match(usageError(t, () => resolveDestination('pod/plain/legacy', 80, data)), /Pod\/plain\/legacy is outside the mesh: no authorization policy is enforced there/);
  t.match(usageError(t, () => resolveDestination('198.18.1.50:80', undefined, data)), /Pod\/plain\/legacy is outside the mesh/);
  t.match(usageError(t, () => resolveDestination('10.1.1.1:80', undefined, data)), /no Service VIP and no meshed workload has this address/);
  t.match(usageError(t, () => resolveDestination('[2001:db8::1]:80', undefined, data)), /no Service VIP and no meshed workload/);
  for (const port of [0, 70000, 1.5, -1]) t.match(usageError(t, () => resolveDestination('pod/demo/web-1', port, data)), /^port .*: must be 1-65535$/, String(port));
  for (const text of ['', 'x', 'a/b/c/d', 'svc/demo', '1.2.3.4:99999']) t.match(usageError(t, () => resolveDestination(text, undefined, data)), /^destination /, JSON.stringify(text));
});
