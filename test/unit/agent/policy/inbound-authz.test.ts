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
import type { NodeSnapshot, WorkloadInfo } from '../../../../src/mesh/types.js';

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
function indexWith(policies: AuthorizationPolicyData[]): WorkloadIndex {
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local',
    localWorkloads: [web], workloads: [web, client, other], services: [], authorizationPolicies: policies,
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
    rec.recheck = { workload: d.workload, attributes: d.attributes };
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
