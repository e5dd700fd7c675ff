/**
 * The destination side's pure parts: the forwarding headers it adds and the responses it makes
 * for failures (HTTP and gRPC), without sockets.
 */
import t from 'tap';
import { forwardingHeaders, localReply } from '../../../../src/agent/http/inbound-http.js';

async function readBody(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const id = (): string => 'fixed-id';

t.test('x-forwarded-for: the client address appended without its port, IPv4 and IPv6', async (t) => {
  t.equal(forwardingHeaders({}, '10.1.2.3:5555', id)['x-forwarded-for'], '10.1.2.3');
  t.equal(forwardingHeaders({}, '[fd00::1]:5555', id)['x-forwarded-for'], 'fd00::1');
  t.equal(forwardingHeaders({}, '10.1.2.3', id)['x-forwarded-for'], '10.1.2.3', 'an address without a port');
  t.equal(forwardingHeaders({ 'x-forwarded-for': '1.1.1.1' }, '10.1.2.3:1', id)['x-forwarded-for'], '1.1.1.1, 10.1.2.3');
  t.equal(forwardingHeaders({ 'x-forwarded-for': ['1.1.1.1', '2.2.2.2'] }, '10.1.2.3:1', id)['x-forwarded-for'], '1.1.1.1, 2.2.2.2, 10.1.2.3', 'repeated headers joined first');
  t.equal(forwardingHeaders({}, '', id)['x-forwarded-for'], undefined, 'no address known: nothing added');
});

t.test('x-forwarded-proto and x-request-id only when absent; nothing else changes', async (t) => {
  t.same(forwardingHeaders({ a: 'b' }, '10.0.0.1:1', id), { a: 'b', 'x-forwarded-for': '10.0.0.1', 'x-forwarded-proto': 'http', 'x-request-id': 'fixed-id' });
  t.same(forwardingHeaders({ 'x-forwarded-proto': 'https', 'x-request-id': 'r' }, '10.0.0.1:1', id), { 'x-forwarded-proto': 'https', 'x-request-id': 'r', 'x-forwarded-for': '10.0.0.1' });
});

t.test('localReply: gRPC (application/grpc and its +/; suffixes) gets Trailers-Only, anything else (grpc-web too, as in Envoy) an HTTP status', async (t) => {
  const cts = ['application/grpc', 'application/grpc+proto', 'application/grpc;charset=utf-8', 'application/grpc-web', 'application/grpcx', 'application/json', undefined];
  const statuses = cts.map((ct) => localReply('policy_denied', { method: 'POST', headers: ct === undefined ? {} : { 'content-type': ct } }).status);
  t.same(statuses, [200, 200, 200, 403, 403, 403, 403]);
});

t.test('localReply: HTTP status of the kind, meshlet-error, a text body (none for HEAD)', async (t) => {
  const denied = localReply('policy_denied', { method: 'GET', headers: {} });
  t.same([denied.status, denied.headers['meshlet-error'], denied.failure], [403, 'policy_denied', 'policy_denied']);
  t.equal((await readBody(denied.body)).toString(), 'meshlet: policy_denied\n');
  t.equal(denied.headers['content-length'], String('meshlet: policy_denied\n'.length));
  const head = localReply('connect_timeout', { method: 'HEAD', headers: {} });
  t.equal(head.status, 504);
  t.equal((await readBody(head.body)).length, 0);
  t.same(await head.trailers, {});
});

t.test('localReply for gRPC: 200, trailers-only with the grpc-status of the kind', async (t) => {
  const r = localReply('connect_refused', { method: 'POST', headers: { 'content-type': 'application/grpc' } });
  t.same([r.status, r.headers['grpc-status'], r.headers['grpc-message'], r.headers['meshlet-error']], [200, '14', 'meshlet: connect_refused', 'connect_refused']);
  t.equal((await readBody(r.body)).length, 0);
  t.equal(localReply('policy_denied', { method: 'POST', headers: { 'content-type': 'application/grpc' } }).headers['grpc-status'], '7');
});

t.test('requestService: the source\'s well-formed name, else the Service of the endpoint (the authority picks among several), else none', async (t) => {
  const { WorkloadIndex } = await import('../../../../src/agent/state/workload-index.js');
  const { requestService } = await import('../../../../src/agent/http/inbound-http.js');
  const pod = {
    uid: 'Pod/demo/web-1', kind: 'Pod' as const, name: 'web-1', namespace: 'demo', addresses: ['198.18.1.10'], node: 'node2',
    nodeAddress: '198.18.0.12', serviceAccount: 'web', identity: 'spiffe://cluster.local/ns/demo/sa/web', labels: {}, tlsMode: 'STRICT' as const, namedPorts: [],
  };
  const endpoint = { workload: pod.uid, address: '198.18.1.10', node: 'node2', nodeAddress: '198.18.0.12', meshed: true, identity: pod.identity, targetPorts: { 80: 8080 } };
  const svc = (name: string, vip: string) => ({ key: `demo/${name}`, name, namespace: 'demo', vips: [vip], ports: [{ port: 80, targetPort: 8080 }], endpoints: [endpoint] });
  const index = new WorkloadIndex({
    version: 'v1', node: 'node2', nodeAddress: '198.18.0.12', trustDomain: 'cluster.local',
    localWorkloads: [pod], workloads: [pod], services: [svc('web', '198.19.0.10'), svc('web-canary', '198.19.0.11')],
  });
  const target = { address: '198.18.1.10', port: 8080 };
  t.equal(requestService(index, target, 'other/named', 'x'), 'other/named', 'the source named it');
  for (const bad of ['no-slash', 'a/b/c', 'UPPER/case', `${'a'.repeat(64)}/b`, 'a/', '/b', 'a/b\n']) {
    t.equal(requestService(index, target, bad, 'web-canary'), 'demo/web-canary', `a malformed name (${JSON.stringify(bad)}) is ignored`);
  }
  t.equal(requestService(index, target, undefined, 'web-canary.demo.svc.cluster.local:80'), 'demo/web-canary', 'the authority picks among the Services of the endpoint');
  t.equal(requestService(index, target, undefined, 'web.demo:80'), 'demo/web');
  t.equal(requestService(index, target, undefined, '198.18.1.10:8080'), 'demo/web', 'no name to go by: the first by key');
  t.equal(requestService(index, { address: '198.18.1.10', port: 9090 }, undefined, 'web'), undefined, 'a port no Service targets: unknown');
  t.equal(requestService(index, { address: '198.18.1.99', port: 8080 }, undefined, 'web'), undefined, 'not an endpoint: unknown');
});
