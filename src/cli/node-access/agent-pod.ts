/**
 * Finding a node's agent pod for `--node NAME` (docs/sre-cli.md, "Reaching another node"):
 * the DaemonSet's pods in `meshlet-system` (label `app.kubernetes.io/name=meshlet-agent`) with
 * `spec.nodeName == NAME`. Which pod to use, and where its admin API and token are, is decided
 * by pure functions over the pod objects; the API calls around them are thin, and each failure
 * is a MESHLET_ERR_NODE_AGENT naming what is wrong (no such node, no agent pod, not ready,
 * forbidden with the verb and resource).
 */
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { DEFAULT_ADMIN_TOKEN_FILE } from '../../agent/admin/token.js';
import { reasonOf, statusOf, withTimeout, type KubernetesApiCall } from '../../ca/kubernetes-api.js';
import { MeshletError } from '../../mesh/errors.js';

/** The agent DaemonSet's namespace and pod label (daemonset/agent.yaml, charts/meshlet). */
export const AGENT_NAMESPACE = 'meshlet-system';
export const AGENT_LABEL = 'app.kubernetes.io/name=meshlet-agent';
/** The agent's container in the pod. */
export const AGENT_CONTAINER = 'agent';
/** The agent's `--admin-port` default (src/agent/config.ts). */
const DEFAULT_ADMIN_PORT = 15000;
/** One API request of the lookup: the API answers from its cache, so 10 s is a dead server. */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * What `--node` asks of the Kubernetes API, as RBAC sees it: an operator's role needs these.
 * docs/sre-cli.md ("RBAC for --node") gives the Role and ClusterRole `meshlet-node-access`
 * granting them; a test holds the two together.
 */
export const NODE_ACCESS_CALLS: readonly KubernetesApiCall[] = [
  { group: '', version: 'v1', resource: 'pods', verbs: ['list'], scope: 'namespace', why: "find the node's agent pod in meshlet-system" },
  { group: '', version: 'v1', resource: 'nodes', verbs: ['get'], scope: 'cluster', why: 'tell "no such node" from "no agent pod on it" (optional: without it the message says it cannot tell)' },
  { group: '', version: 'v1', resource: 'pods/portforward', verbs: ['create'], scope: 'namespace', why: "reach the agent's admin port on the node's loopback" },
  { group: '', version: 'v1', resource: 'pods/exec', verbs: ['create'], scope: 'namespace', why: 'read the admin token file in the agent pod (not needed with --admin-token-file)' },
];

/** Where the agent in a pod serves its admin API and keeps its token. */
export interface AgentAdminSettings {
  readonly port: number;
  readonly tokenFile: string;
}

/** The agent pod chosen for a node: its name and admin settings. */
export interface AgentPod {
  readonly namespace: string;
  readonly name: string;
  readonly node: string;
  readonly admin: AgentAdminSettings;
}

/** A failure of `--node`, with the code every such failure has. */
export function nodeAgentError(message: string, cause?: unknown): MeshletError {
  return new MeshletError('MESHLET_ERR_NODE_AGENT', message, cause === undefined ? {} : { cause });
}

/**
 * Picks the pod to talk to among the agent pods on `node`. During a rolling update
 * (`maxSurge: 1`) a node has two: the new one, once Ready, holds the listeners, and the old one
 * is terminating; so a Ready pod not being deleted wins, the newest first. Pure.
 * @returns the pod, or why none can serve (a sentence naming the pods and their state).
 */
export function pickAgentPod(pods: readonly V1Pod[], node: string): { pod: V1Pod } | { problem: string } {
  const mine = pods.filter((p) => p.spec?.nodeName === node);
  if (mine.length === 0) return { problem: `no meshlet agent pod on node ${node} (pods labelled ${AGENT_LABEL} in ${AGENT_NAMESPACE})` };
  const ready = mine
    .filter((p) => p.status?.phase === 'Running' && isReady(p) && p.metadata?.deletionTimestamp === undefined)
    .sort((a, b) => created(b) - created(a));
  const best = ready[0];
  if (best !== undefined) return { pod: best };
  return { problem: mine.map((p) => `agent pod ${AGENT_NAMESPACE}/${p.metadata?.name ?? '?'} on node ${node} is ${podState(p)}`).join('; ') };
}

function isReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function created(pod: V1Pod): number {
  const t = pod.metadata?.creationTimestamp;
  return t === undefined ? 0 : new Date(t).getTime();
}

/** A pod's state in a few words: `Pending`, `Running but not Ready (agent: CrashLoopBackOff)`, `terminating`. */
function podState(pod: V1Pod): string {
  if (pod.metadata?.deletionTimestamp !== undefined) return 'terminating';
  const phase = pod.status?.phase ?? 'Unknown';
  if (phase !== 'Running') return `${phase} (not Running)`;
  const waiting = (pod.status?.containerStatuses ?? []).flatMap((c) => (c.state?.waiting?.reason === undefined ? [] : [`${c.name}: ${c.state.waiting.reason}`]));
  return `Running but not Ready${waiting.length > 0 ? ` (${waiting.join(', ')})` : ''}`;
}

/**
 * The admin port and token file of the agent in `pod`, from its container's args (`--flag=v`
 * or `--flag v`) and env (`MESHLET_ADMIN_TOKEN_FILE`, a literal value), else the agent's
 * defaults: a chart that moves them keeps `--node` working. Pure.
 * @throws MESHLET_ERR_NODE_AGENT when the pod says a port that is not one.
 */
export function agentAdminSettings(pod: V1Pod): AgentAdminSettings {
  const containers = pod.spec?.containers ?? [];
  const c = containers.find((x) => x.name === AGENT_CONTAINER) ?? containers[0];
  const args = [...(c?.command ?? []), ...(c?.args ?? [])];
  const flag = (name: string): string | undefined => {
    let value: string | undefined;
    args.forEach((a, i) => {
      if (a.startsWith(`${name}=`)) value = a.slice(name.length + 1);
      else if (a === name) value = args[i + 1] ?? ''; // a flag with no value: the agent refuses it too
    });
    return value;
  };
  const envFile = c?.env?.find((e) => e.name === 'MESHLET_ADMIN_TOKEN_FILE')?.value;
  const portText = flag('--admin-port');
  const port = portText === undefined ? DEFAULT_ADMIN_PORT : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw nodeAgentError(`agent pod ${AGENT_NAMESPACE}/${pod.metadata?.name ?? '?'}: --admin-port ${JSON.stringify(portText)} in its spec is not a port`);
  }
  return { port, tokenFile: flag('--admin-token-file') ?? envFile ?? DEFAULT_ADMIN_TOKEN_FILE };
}

/** The sentence for a refused call: who may not do what, and what to grant. */
export function forbidden(verb: string, resource: string, where: string, err: unknown): MeshletError {
  return nodeAgentError(`forbidden: the kubeconfig's user may not ${verb} ${resource} ${where}${reasonOf(err)} (grant it: the Role meshlet-node-access in docs/sre-cli.md, "RBAC for --node")`, err);
}

/**
 * Finds the agent pod of `node` through the API of `kc`.
 * @throws MESHLET_ERR_NODE_AGENT: no such node, no agent pod, not ready, forbidden, API unreachable.
 */
export async function findAgentPod(kc: KubeConfig, node: string): Promise<AgentPod> {
  const api = kc.makeApiClient(CoreV1Api);
  const server = kc.getCurrentCluster()?.server ?? '?';
  let pods: V1Pod[];
  try {
    const list = await withTimeout(api.listNamespacedPod({ namespace: AGENT_NAMESPACE, labelSelector: AGENT_LABEL, fieldSelector: `spec.nodeName=${node}` }), REQUEST_TIMEOUT_MS);
    pods = list.items;
  } catch (err) {
    if (statusOf(err) === 403) throw forbidden('list', 'pods', `in namespace ${AGENT_NAMESPACE}`, err);
    throw nodeAgentError(`cannot list the agent pods of node ${node} at ${server}: ${callError(err)}`, err);
  }
  const picked = pickAgentPod(pods, node);
  if ('problem' in picked) {
    if (pods.length === 0) await mustExist(api, node);
    throw nodeAgentError(picked.problem);
  }
  const name = picked.pod.metadata?.name ?? '';
  return { namespace: AGENT_NAMESPACE, name, node, admin: agentAdminSettings(picked.pod) };
}

/** With no agent pod found: says "no such node" when the node is not there either. */
async function mustExist(api: CoreV1Api, node: string): Promise<void> {
  try {
    await withTimeout(api.readNode({ name: node }), REQUEST_TIMEOUT_MS);
  } catch (err) {
    const status = statusOf(err);
    if (status === 404) throw nodeAgentError(`no such node: ${node} (kubectl get nodes lists them)`, err);
    if (status === 403) throw nodeAgentError(`no meshlet agent pod on node ${node}, and the kubeconfig's user may not get nodes to tell whether ${node} exists (kubectl get nodes)`, err);
    throw nodeAgentError(`no meshlet agent pod on node ${node} (reading the node failed: ${callError(err)})`, err);
  }
}

/** A failed API call in a few words: the status and the API's message, or the network error. */
function callError(err: unknown): string {
  const status = statusOf(err);
  if (status !== undefined) return `HTTP ${status}${reasonOf(err)}`;
  // client-node's fetch errors carry the system error's code (ECONNREFUSED) themselves or in `cause`.
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  if (typeof e.code === 'string') return e.code;
  return typeof e.cause?.code === 'string' ? e.cause.code : (err as Error).message;
}
