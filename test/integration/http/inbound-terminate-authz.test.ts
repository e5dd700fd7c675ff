/**
 * InboundTerminator in front of the real InboundHttp (HttpUpstreams, a WorkloadIndex with a DENY
 * AuthorizationPolicy on `/admin*`) and a real HTTP/1.1 workload on 127.0.0.1: per-request
 * authorization on a terminated keep-alive connection, the workload seeing only what was allowed.
 */
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { InboundHttp, type InboundSource } from '../../../src/agent/http/inbound-http.js';
import { InboundTerminator } from '../../../src/agent/http/inbound-terminate.js';
import type { RequestRecord } from '../../../src/agent/http/exchange.js';
import { HttpUpstreams } from '../../../src/agent/http/upstream-pool.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';
import { waitFor } from '../../helpers/wait-for.js';
import { raw, statuses } from './inbound-terminate-rig.js';

const logger = pino({ level: 'silent' });
const SERVER_ID = 'spiffe://cluster.local/ns/demo/sa/server';
const CLIENT_ID = 'spiffe://cluster.local/ns/demo/sa/client';

type Policy = NonNullable<NodeSnapshot['authorizationPolicies']>[number];

/** The terminator in front of a real InboundHttp whose workload is a real HTTP/1.1 server; `policy` selects it. */
async function rig(t: Test, policy: Policy): Promise<{ port: number; seen: string[]; records: RequestRecord[]; done: (string | undefined)[]; send(text: string): Promise<string> }> {
  const seen: string[] = [];
  const workloadServer = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    res.end(`ok ${req.url ?? ''}`);
  });
  workloadServer.listen(0, '127.0.0.1');
  await once(workloadServer, 'listening');
  const port = (workloadServer.address() as AddressInfo).port;
  const server: WorkloadInfo = {
    uid: 'Pod/demo/server', kind: 'Pod', name: 'server', namespace: 'demo', addresses: ['127.0.0.1'], node: 'nodeb',
    nodeAddress: '127.0.0.1', serviceAccount: 'server', identity: SERVER_ID, labels: { app: 'server' }, tlsMode: 'STRICT', namedPorts: [],
  };
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'nodeb', nodeAddress: '127.0.0.1', trustDomain: 'cluster.local',
    localWorkloads: [server], workloads: [server], services: [], authorizationPolicies: [policy],
  };
  const index = new WorkloadIndex(snapshot, { allowLoopback: true });
  const records: RequestRecord[] = [];
  const upstreams = new HttpUpstreams({ logger });
  const inbound = new InboundHttp({ logger, index: () => index, agentPorts: new Set(), upstreams, observer: { onRequest: (r) => void records.push(r) } });
  const terminator = new InboundTerminator({ logger, http: inbound });
  const source: InboundSource = { kind: 'mtls', identity: CLIENT_ID, localIdentity: SERVER_ID, address: '127.0.0.9:5555' };
  const done: (string | undefined)[] = [];
  const capture = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) =>
    terminator.serve(s, source, { address: '127.0.0.1', port }, (failure) => void done.push(failure)),
  );
  capture.listen(0, '127.0.0.1');
  await once(capture, 'listening');
  t.teardown(() => {
    terminator.destroy();
    capture.close();
    upstreams.destroy();
    workloadServer.closeAllConnections();
    workloadServer.close();
  });
  return { port, seen, records, done, send: (text) => raw((capture.address() as AddressInfo).port, text) };
}

const GET = (path: string, close = false): string => `GET ${path} HTTP/1.1\r\nHost: server.demo\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;

t.test('a DENY on /admin: 403 for that request, the requests around it reach the workload', async (t) => {
  const { seen, records, done, send } = await rig(t, {
    key: 'demo/no-admin', namespace: 'demo', name: 'no-admin', apiVersion: 'security.istio.io/v1', action: 'DENY',
    selector: { app: 'server' }, rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }], creationTimestamp: 0,
  });
  const answer = await send(GET('/a') + GET('/admin/users') + GET('http://server.demo/admin') + GET('/b', true));
  t.same(statuses(answer), [200, 403, 403, 200]);
  t.same(seen, ['/a', '/b'], 'the workload saw only the allowed requests');
  t.match(answer, /ok \/a/);
  t.match(answer, /meshlet: authz_denied\n/);
  t.notMatch(answer, /meshlet-error/i, 'meshlet-error stays inside the mesh');
  await waitFor('four records', () => records.length === 4);
  // Reported as each response ends: the denied ones (answered at once) may come first.
  const byPath = [...records].sort((x, y) => x.path.localeCompare(y.path));
  t.same(byPath.map((r) => [r.path, r.status, r.failure]), [['/a', 200, undefined], ['/admin', 403, 'authz_denied'], ['/admin/users', 403, 'authz_denied'], ['/b', 200, undefined]]);
  t.equal(byPath[1]?.authz?.decidedBy?.policy, 'demo/no-admin');
  await waitFor('done', () => done.length === 1);
  t.same(done, [undefined]);
});

t.test('an ALLOW on /public only: another path is 403 and its record says why, though no policy decided it', async (t) => {
  const { seen, records, send } = await rig(t, {
    key: 'demo/public', namespace: 'demo', name: 'public', apiVersion: 'meshlet.io/v1alpha1', action: 'ALLOW',
    selector: { app: 'server' }, rules: [{ to: [{ operation: { paths: ['/public/*'] } }] }], creationTimestamp: 0,
  });
  const answer = await send(GET('/public/x') + GET('/private', true));
  t.same(statuses(answer), [200, 403]);
  t.same(seen, ['/public/x']);
  await waitFor('two records', () => records.length === 2);
  const denied = records.find((r) => r.path === '/private');
  t.equal(denied?.failure, 'authz_denied');
  t.equal(denied?.authz?.allowed, false);
  t.equal(denied?.authz?.decidedBy, undefined, 'no single policy decided it');
  t.match(denied?.authz?.reason, /no ALLOW policy matched/, 'the record carries the reason the access log prints');
  t.equal(records.find((r) => r.path === '/public/x')?.authz?.decidedBy?.policy, 'demo/public', 'the allowing policy is named');
});
