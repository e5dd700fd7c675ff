/**
 * decideInbound with AuthorizationPolicies: identities, addresses (and which claimed addresses
 * are trusted), the connection mode failing L7 rules closed, the request mode; and
 * InboundProxy.review closing what a new snapshot denies.
 */
import t from 'tap';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { decideInbound, trustedSourceAddress, type InboundVia } from '../../../../src/agent/policy/inbound-decision.js';
import { WorkloadIndex } from '../../../../src/agent/state/workload-index.js';
import { ConnectionTable } from '../../../../src/agent/proxy/connection-table.js';
import { InboundProxy } from '../../../../src/agent/proxy/inbound.js';
import type { AuthorizationPolicyData, AuthzRule } from '../../../../src/mesh/authz/types.js';
import type { NodeSnapshot, ServiceInfo, WorkloadInfo } from '../../../../src/mesh/types.js';

function workload(name: string, address: string, node: string, labels: Record<string, string> = {}): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node,
    nodeAddress: node === 'node1' ? '198.18.0.11' : '198.18.0.12', serviceAccount: name,
    identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels, tlsMode: 'PERMISSIVE', namedPorts: [],
  };
}
const web = workload('web', '198.18.1.10', 'node1', { app: 'web' });
const client = workload('client', '198.18.2.10', 'node2');
const other = workload('other', '198.18.2.11', 'node2');

function allow(name: string, rules: AuthzRule[], action: AuthorizationPolicyData['action'] = 'ALLOW'): AuthorizationPolicyData {
  return { key: `demo/${name}`, namespace: 'demo', name, apiVersion: 'meshlet.io/v1alpha1', action, selector: { app: 'web' }, rules, creationTimestamp: 0 };
}
/** `web`'s Service: port 80 named `name` (its protocol) to target port 8080, port 5000 opaque. */
function webService(name: string): ServiceInfo {
  return {
    key: 'demo/web', name: 'web', namespace: 'demo', vips: ['198.19.0.10'], ports: [{ name, port: 80, targetPort: 8080 }, { name: 'tcp-ping', port: 5000, targetPort: 5000 }],
    endpoints: [{ workload: web.uid, address: web.addresses[0] ?? '', node: 'node1', nodeAddress: '198.18.0.11', meshed: true, identity: web.identity, targetPorts: { 80: 8080, 5000: 5000 } }],
  };
}
function indexWith(policies: AuthorizationPolicyData[], services: ServiceInfo[] = []): WorkloadIndex {
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local',
    localWorkloads: [web], workloads: [web, client, other], services, authorizationPolicies: policies,
  };
  return new WorkloadIndex(snapshot);
}
const PORTS: ReadonlySet<number> = new Set([15008]);
const TARGET = { address: '198.18.1.10', port: 8080 };
const mtls = (from: WorkloadInfo, claimed?: string): InboundVia => ({ kind: 'mtls', localIdentity: web.identity, peerIdentity: from.identity, sourceAddress: claimed });

t.test('ALLOW by principal: the named source in, another source out with the authz kind', async (t) => {
  const index = indexWith([allow('web-allow', [{ from: [{ source: { principals: ['cluster.local/ns/demo/sa/client'] } }] }])]);
  const ok = decideInbound(index, TARGET, mtls(client), PORTS);
  t.equal(ok.allow, true);
  t.match(ok, { authz: { decidedBy: { policy: 'demo/web-allow', rule: 0, action: 'ALLOW' } } });
  const no = decideInbound(index, TARGET, mtls(other), PORTS);
  t.equal(no.allow, false);
  t.equal(!no.allow && no.kind, 'authz_denied');
  t.match(!no.allow && no.reason, /^authorization: no ALLOW policy matched/);
});

t.test('no policy: allowed, with no decision to log', async (t) => {
  const d = decideInbound(indexWith([]), TARGET, mtls(other), PORTS);
  t.equal(d.allow, true);
  t.equal(d.allow && d.authz.decidedBy, undefined);
});

t.test('plaintext: address rules match, identity rules never do', async (t) => {
  const byIp = indexWith([allow('ip', [{ from: [{ source: { ipBlocks: ['203.0.113.0/24'] } }] }])]);
  t.equal(decideInbound(byIp, TARGET, { kind: 'plaintext', sourceAddress: '203.0.113.7' }, PORTS).allow, true, 'ipBlocks matches the kernel address');
  t.equal(decideInbound(byIp, TARGET, { kind: 'plaintext', sourceAddress: '198.51.100.1' }, PORTS).allow, false, 'another address does not');
  const byId = indexWith([allow('ids', [{ from: [{ source: { principals: ['*'] } }] }])]);
  t.equal(decideInbound(byId, TARGET, { kind: 'plaintext', sourceAddress: '203.0.113.7' }, PORTS).allow, false, 'principals ["*"] needs an identity');
  t.equal(decideInbound(byId, TARGET, mtls(client), PORTS).allow, true, 'which a meshed source has');
});

t.test('a claimed source address counts only when it belongs to the peer identity', async (t) => {
  const index = indexWith([allow('ip', [{ from: [{ source: { ipBlocks: ['198.18.2.10/32'] } }] }])]);
  t.equal(trustedSourceAddress(index, client.identity, '198.18.2.10'), '198.18.2.10', "the peer's own workload address");
  t.equal(trustedSourceAddress(index, other.identity, '198.18.2.10'), undefined, "another identity's address is not believed");
  t.equal(trustedSourceAddress(index, other.identity, '203.0.113.9'), undefined, 'an address of no workload is not believed');
  t.equal(decideInbound(index, TARGET, mtls(client, '198.18.2.10'), PORTS).allow, true);
  t.equal(decideInbound(index, TARGET, mtls(other, '198.18.2.10'), PORTS).allow, false, 'other claiming client\'s address does not pass the ipBlocks rule');
});

t.test('L7 rules: a connection fails closed, a request is judged on its method', async (t) => {
  const index = indexWith([allow('get', [{ to: [{ operation: { methods: ['GET'] } }] }])]);
  t.equal(decideInbound(index, TARGET, mtls(client), PORTS).allow, false, 'connection mode: an ALLOW rule with methods never matches');
  const req = (method: string) => ({ method, path: '/x', host: 'web', headers: {} });
  t.equal(decideInbound(index, TARGET, mtls(client), PORTS, req('GET')).allow, true, 'GET allowed');
  t.equal(decideInbound(index, TARGET, mtls(client), PORTS, req('POST')).allow, false, 'POST denied');
});

t.test('review: a new snapshot closes the connections it denies and keeps the others', async (t) => {
  const logger = pino({ level: 'silent' });
  const table = new ConnectionTable(logger);
  let index = indexWith([]);
  const proxy = new InboundProxy({ logger, table, index: () => index, agentPorts: PORTS });
  const open = (from: WorkloadInfo): PassThrough => {
    const end = new PassThrough();
    const rec = table.open('inbound', `${from.addresses[0]}:1000`, '198.18.1.10:8080', end);
    const d = decideInbound(index, TARGET, mtls(from), PORTS);
    if (!d.allow) throw new Error('setup: expected allowed');
    rec.sourceIdentity = from.identity;
    rec.recheck = { workload: d.workload, attributes: d.attributes, mode: d.recheckMode };
    return end;
  };
  const kept = open(client);
  const doomed = open(other);
  t.equal(proxy.review(index), 0, 'nothing closed under the same policies');
  index = indexWith([allow('web-allow', [{ from: [{ source: { principals: ['cluster.local/ns/demo/sa/client'] } }] }])]);
  t.equal(proxy.review(index), 1, 'one connection closed');
  t.equal(doomed.destroyed, true, 'the denied one');
  t.equal(kept.destroyed, false, 'the allowed one stays');
  t.equal(table.size, 1);
});

t.test('a connection to a port declared HTTP is terminated only when an L7 rule may decide its requests', async (t) => {
  const getOnly = allow('get', [{ to: [{ operation: { methods: ['GET'] } }] }]);
  const http = indexWith([getOnly], [webService('http')]);
  const d = decideInbound(http, TARGET, mtls(client), PORTS, undefined, true);
  t.equal(d.allow, true, 'connection-http: the ALLOW rule with methods lets the connection in');
  t.equal(d.allow && d.terminate, true, 'and its requests are checked one by one');
  t.equal(d.allow && d.recheckMode, 'connection-http');
  t.equal(decideInbound(http, TARGET, mtls(client), PORTS).allow, false, 'without a terminator: fails closed, as opaque');
  const opaque = indexWith([getOnly], [webService('tcp-web')]);
  t.equal(decideInbound(opaque, TARGET, mtls(client), PORTS, undefined, true).allow, false, 'a port declared tcp fails closed, terminator or not');
  const undeclared = indexWith([getOnly], [webService('web')]);
  t.equal(decideInbound(undeclared, TARGET, mtls(client), PORTS, undefined, true).allow, false, 'an undeclared (detect) port is not known to be HTTP: fails closed');
  const grpc = indexWith([getOnly], [webService('grpc')]);
  t.equal(decideInbound(grpc, TARGET, mtls(client), PORTS, undefined, true).allow, true, 'grpc is HTTP');

  const l4 = indexWith([allow('client-only', [{ from: [{ source: { principals: ['cluster.local/ns/demo/sa/client'] } }] }])], [webService('http')]);
  const plain = decideInbound(l4, TARGET, mtls(client), PORTS, undefined, true);
  t.equal(plain.allow && plain.terminate, false, 'no L7 rule: spliced');
  t.equal(plain.allow && plain.recheckMode, 'connection-opaque');

  const denyAdmin = indexWith([allow('no-admin', [{ from: [{ source: { principals: ['cluster.local/ns/demo/sa/other'] } }], to: [{ operation: { paths: ['/admin*'] } }] }], 'DENY')], [webService('http')]);
  const spared = decideInbound(denyAdmin, TARGET, mtls(client), PORTS, undefined, true);
  t.equal(spared.allow && spared.terminate, false, "the DENY rule's source part cannot match client: final, spliced");
  const watched = decideInbound(denyAdmin, TARGET, mtls(other), PORTS, undefined, true);
  t.equal(watched.allow, true, 'other is let in: only its /admin requests are denied');
  t.equal(watched.allow && watched.terminate, true, 'so its requests are checked');
  t.equal(decideInbound(denyAdmin, TARGET, mtls(other), PORTS).allow, false, 'without a terminator the DENY applies to the whole connection (fails closed)');
  t.equal(decideInbound(denyAdmin, TARGET, mtls(other), PORTS, { method: 'GET', path: '/public', host: 'web', headers: {} }).allow, true, 'a request elsewhere passes');
  t.equal(decideInbound(denyAdmin, TARGET, mtls(other), PORTS, { method: 'GET', path: '/admin/x', host: 'web', headers: {} }).allow, false, 'a request to /admin does not');
});

t.test('review: a terminated connection is checked as HTTP, a spliced one as opaque', async (t) => {
  const logger = pino({ level: 'silent' });
  const table = new ConnectionTable(logger);
  const services = [webService('http')];
  let index = indexWith([], services);
  const proxy = new InboundProxy({ logger, table, index: () => index, agentPorts: PORTS });
  const open = (mode: 'connection-http' | 'connection-opaque'): PassThrough => {
    const end = new PassThrough();
    const rec = table.open('inbound', '198.18.2.10:1000', '198.18.1.10:8080', end);
    const d = decideInbound(index, TARGET, mtls(client), PORTS);
    if (!d.allow) throw new Error('setup: expected allowed');
    rec.recheck = { workload: d.workload, attributes: d.attributes, mode };
    return end;
  };
  const terminated = open('connection-http');
  const spliced = open('connection-opaque');
  index = indexWith([allow('get', [{ to: [{ operation: { methods: ['GET'] } }] }])], services);
  t.equal(proxy.review(index), 1, 'one closed');
  t.equal(spliced.destroyed, true, 'the spliced one: its requests cannot be checked, the L7 rule fails closed');
  t.equal(terminated.destroyed, false, 'the terminated one stays: each of its requests is checked');
});
