/**
 * The agent DaemonSet and the controller Deployment: the properties the install depends on,
 * each stated once here (least privilege, ports, probes, grace period against the drain
 * deadline, update strategy, the CA root without the CA key).
 */
import t from 'tap';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { argsToFlags, findObject, loadManifests } from './install-files.js';

interface Probe { httpGet?: { path: string; port: number | string }; tcpSocket?: { port: number | string } }
interface PodSpec {
  hostNetwork?: boolean;
  dnsPolicy?: string;
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  tolerations?: { operator?: string; key?: string }[];
  containers: {
    args: string[];
    ports?: { name?: string; containerPort: number }[];
    readinessProbe?: Probe;
    livenessProbe?: Probe;
    resources?: { requests?: Record<string, string> };
    securityContext?: { runAsUser?: number; allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[]; add?: string[] } };
    volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  }[];
  securityContext?: { runAsNonRoot?: boolean };
  volumes: {
    name: string;
    secret?: unknown;
    emptyDir?: unknown;
    hostPath?: { path: string; type?: string };
    configMap?: { name: string; items?: { key: string }[] };
    projected?: { sources: { serviceAccountToken?: { audience: string } }[] };
  }[];
}
interface Workload { spec: { replicas?: number; updateStrategy?: { rollingUpdate?: { maxUnavailable?: number; maxSurge?: number } }; template: { spec: PodSpec } } }

const entries = loadManifests();
const agent = findObject(entries, 'DaemonSet', 'meshlet-agent') as unknown as Workload;
const pod = agent.spec.template.spec;
const container = pod.containers[0];
if (container === undefined) throw new Error('the agent DaemonSet has no container');

t.test('the agent runs in the host network on every node', async (t) => {
  t.equal(pod.hostNetwork, true);
  t.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet', 'resolves meshlet-controller.meshlet-system.svc');
  t.same(pod.tolerations, [{ operator: 'Exists' }], 'tolerates every taint');
  // None declared: a hostNetwork pod's container ports are hostPorts, and the scheduler would keep
  // the surge pod of a rollout (a second agent on the node) from starting.
  t.equal(container.ports, undefined, 'no container ports (hostPorts)');
});

t.test('the agent has only NET_ADMIN and NET_RAW', async (t) => {
  const sc = container.securityContext;
  t.same(sc?.capabilities?.drop, ['ALL']);
  t.same([...(sc?.capabilities?.add ?? [])].sort(), ['NET_ADMIN', 'NET_RAW']);
  t.equal(sc?.allowPrivilegeEscalation, false);
  t.equal(sc?.readOnlyRootFilesystem, true);
  t.equal(sc?.runAsUser, 0, 'root, since Kubernetes grants added capabilities to uid 0 only');
});

t.test('readiness is /healthz/ready on the readiness port', async (t) => {
  t.same(container.readinessProbe?.httpGet, { path: '/healthz/ready', port: 15021 });
  t.ok(container.resources?.requests?.['cpu'], 'a CPU request');
  t.ok(container.resources?.requests?.['memory'], 'a memory request');
});

t.test('the state directory (the persisted snapshot) is a writable hostPath: it outlives the pod', async (t) => {
  const config = loadAgentConfig(argsToFlags(container.args.slice(1)), { MESHLET_NODE: 'node-a' });
  const mount = container.volumeMounts?.find((m) => m.mountPath === config.stateDir);
  t.equal(mount?.readOnly ?? false, false, `${config.stateDir} is mounted writable`);
  const volume = pod.volumes.find((v) => v.name === mount?.name);
  t.same(volume?.hostPath, { path: '/var/lib/meshlet', type: 'DirectoryOrCreate' }, 'a hostPath, not an emptyDir that a new pod would lose');
});

t.test('the grace period outlasts the drain deadline; one node at a time, new agent first', async (t) => {
  const config = loadAgentConfig(argsToFlags(container.args.slice(1)), { MESHLET_NODE: 'node-a' });
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  t.ok(grace * 1000 >= config.drainDeadlineMs + 5000, `grace ${grace} s >= drain ${config.drainDeadlineMs} ms + 5 s`);
  // The new agent takes the old one's sockets over before the old pod is deleted (docs/install.md, "Upgrades").
  t.same(agent.spec.updateStrategy?.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
});

t.test('the agent gets the CA root and a meshlet-audience token, never a Secret or the API token', async (t) => {
  t.equal(pod.automountServiceAccountToken, false);
  t.equal(pod.serviceAccountName, 'meshlet-agent');
  t.same(pod.volumes.filter((v) => v.secret !== undefined), [], 'no Secret volume (the CA key is in one)');
  const root = pod.volumes.find((v) => v.configMap?.name === 'meshlet-ca-root');
  t.same(root?.configMap?.items?.map((i) => i.key), ['ca.crt']);
  const audiences = pod.volumes.flatMap((v) => v.projected?.sources ?? []).map((s) => s.serviceAccountToken?.audience);
  t.same(audiences, ['meshlet']);
});

t.test('the controller runs as non-root with no capability, two replicas with one active through the Lease', async (t) => {
  const controller = findObject(entries, 'Deployment', 'meshlet-controller') as unknown as Workload;
  const cpod = controller.spec.template.spec;
  const [c] = cpod.containers;
  t.equal(cpod.securityContext?.runAsNonRoot, true);
  t.same(c?.securityContext?.capabilities, { drop: ['ALL'] });
  t.equal(cpod.serviceAccountName, 'meshlet-controller');
  t.equal(controller.spec.replicas, 2, 'two replicas: leader election keeps one active');
  const role = findObject(entries, 'Role', 'meshlet-controller') as unknown as { rules: { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[] };
  t.same(
    role.rules.filter((r) => r.apiGroups.includes('coordination.k8s.io')),
    [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['meshlet-controller'], verbs: ['get', 'update'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ],
    'the controller may use its Lease, and create it',
  );
  const pdb = findObject(entries, 'PodDisruptionBudget', 'meshlet-controller') as unknown as { spec: { minAvailable?: number } };
  t.equal(pdb.spec.minAvailable, 1, 'a drain keeps one replica');
  const ports = new Map((c?.ports ?? []).map((p) => [p.name, p.containerPort]));
  t.equal(ports.get('metrics'), 15014, 'the metrics port, which a standby serves too');
  t.same(c?.readinessProbe?.httpGet, { path: '/ready', port: 'metrics' }, 'ready: the replica serving agents');
  t.same(c?.livenessProbe?.httpGet, { path: '/healthz', port: 'metrics' }, 'alive: answered by a standby as well, so waiting for the Lease never restarts it');
});
