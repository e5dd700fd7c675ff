/**
 * Which agent pod `--node` talks to (a Ready one not being deleted, the newest: a rolling update
 * has two on the node), why none can serve, and where its admin port and token file are (the
 * pod's args and env, else the agent's defaults). Pure functions, no API.
 */
import t from 'tap';
import type { V1Pod } from '@kubernetes/client-node';
import { agentAdminSettings, pickAgentPod } from '../../../../src/cli/node-access/agent-pod.js';

function pod(name: string, opts: { node?: string; ready?: boolean; phase?: string; created?: string; deleting?: boolean; args?: string[]; env?: Array<{ name: string; value?: string }>; waiting?: string } = {}): V1Pod {
  return {
    metadata: { name, namespace: 'meshlet-system', creationTimestamp: new Date(opts.created ?? '2026-12-01T10:00:00Z'), ...(opts.deleting === true ? { deletionTimestamp: new Date('2026-12-01T12:00:00Z') } : {}) },
    spec: { nodeName: opts.node ?? 'node-a', containers: [{ name: 'agent', args: opts.args ?? ['agent'], ...(opts.env === undefined ? {} : { env: opts.env }) }] },
    status: {
      phase: opts.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }],
      ...(opts.waiting === undefined ? {} : { containerStatuses: [{ name: 'agent', image: 'meshlet', imageID: '', ready: false, restartCount: 3, state: { waiting: { reason: opts.waiting } } }] }),
    },
  };
}

const nameOf = (r: ReturnType<typeof pickAgentPod>): string | undefined => ('pod' in r ? r.pod.metadata?.name : undefined);
const problemOf = (r: ReturnType<typeof pickAgentPod>): string | undefined => ('problem' in r ? r.problem : undefined);

t.test('one Ready pod on the node is the one', async (t) => {
  t.equal(nameOf(pickAgentPod([pod('other', { node: 'node-b' }), pod('mine')], 'node-a')), 'mine');
});

t.test('during a rolling update the new Ready pod wins over the terminating one', async (t) => {
  const old = pod('old', { created: '2026-12-01T09:00:00Z', deleting: true });
  const fresh = pod('new', { created: '2026-12-01T11:00:00Z' });
  t.equal(nameOf(pickAgentPod([old, fresh], 'node-a')), 'new');
  const surgeNotReady = pod('new', { created: '2026-12-01T11:00:00Z', ready: false });
  const oldServing = pod('old', { created: '2026-12-01T09:00:00Z' });
  t.equal(nameOf(pickAgentPod([surgeNotReady, oldServing], 'node-a')), 'old', 'the old pod still serves while the new one is not ready');
  t.equal(nameOf(pickAgentPod([pod('a', { created: '2026-12-01T09:00:00Z' }), pod('b', { created: '2026-12-01T11:00:00Z' })], 'node-a')), 'b', 'two Ready: the newest');
});

t.test('no pod, or none Ready, says which and why', async (t) => {
  t.equal(problemOf(pickAgentPod([pod('x', { node: 'node-b' })], 'node-a')), 'no meshlet agent pod on node node-a (pods labelled app.kubernetes.io/name=meshlet-agent in meshlet-system)');
  t.equal(problemOf(pickAgentPod([pod('p', { phase: 'Pending', ready: false })], 'node-a')), 'agent pod meshlet-system/p on node node-a is Pending (not Running)');
  t.equal(problemOf(pickAgentPod([pod('c', { ready: false, waiting: 'CrashLoopBackOff' })], 'node-a')), 'agent pod meshlet-system/c on node node-a is Running but not Ready (agent: CrashLoopBackOff)');
  t.equal(problemOf(pickAgentPod([pod('d', { deleting: true })], 'node-a')), 'agent pod meshlet-system/d on node node-a is terminating');
});

t.test('the admin port and token file come from the pod spec, else the defaults', async (t) => {
  t.same(agentAdminSettings(pod('a')), { port: 15000, tokenFile: '/run/meshlet/admin-token' });
  t.same(agentAdminSettings(pod('a', { args: ['agent', '--admin-port=15100', '--admin-token-file=/run/m/t'] })), { port: 15100, tokenFile: '/run/m/t' });
  t.same(agentAdminSettings(pod('a', { args: ['agent', '--admin-port', '15200', '--admin-token-file', '/x/t'] })), { port: 15200, tokenFile: '/x/t' });
  t.same(agentAdminSettings(pod('a', { env: [{ name: 'MESHLET_ADMIN_TOKEN_FILE', value: '/env/t' }] })), { port: 15000, tokenFile: '/env/t' });
  t.same(agentAdminSettings(pod('a', { args: ['agent', '--admin-token-file=/flag/t'], env: [{ name: 'MESHLET_ADMIN_TOKEN_FILE', value: '/env/t' }] })).tokenFile, '/flag/t', 'the flag over the env, as the agent reads them');
});

t.test('a pod spec whose --admin-port is not a port is refused naming it', async (t) => {
  t.throws(() => agentAdminSettings(pod('a', { args: ['agent', '--admin-port=99999'] })), { code: 'MESHLET_ERR_NODE_AGENT', message: 'agent pod meshlet-system/a: --admin-port "99999" in its spec is not a port' });
  t.throws(() => agentAdminSettings(pod('a', { args: ['agent', '--admin-port'] })), { code: 'MESHLET_ERR_NODE_AGENT', message: /--admin-port "" in its spec is not a port/ });
});
