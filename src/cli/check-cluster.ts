/**
 * `meshlet check --pre --kubernetes`: what a cluster needs before meshlet is installed in it,
 * read through the kubeconfig without changing anything: the Kubernetes version (the chart's
 * `kubeVersion`), whether the caller may create what the install creates (SelfSubjectAccessReview,
 * as `kubectl auth can-i` asks), and which CRDs are there: meshlet's own (the install brings them;
 * present ones are reported) and the Gateway API's (routes need them). Each check is a function
 * of an injected client, so tests drive every outcome.
 */
import { ApiextensionsV1Api, AuthorizationV1Api, VersionApi, type KubeConfig } from '@kubernetes/client-node';
import { withTimeout } from '../ca/kubernetes-api.js';
import { KUBERNETES_RESOURCES } from '../controller/registry/kube-resources.js';
import type { CheckResult } from './check-pre.js';

/** The oldest Kubernetes the chart and manifests accept (`charts/meshlet/Chart.yaml` kubeVersion). */
export const MIN_KUBERNETES: readonly [number, number] = [1, 30];

/** What the install creates, and so what the installer must be allowed to create. */
export const INSTALL_PERMISSIONS: ReadonlyArray<{ readonly group: string; readonly resource: string; readonly namespace?: string }> = [
  { group: '', resource: 'namespaces' },
  { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
  { group: 'rbac.authorization.k8s.io', resource: 'roles', namespace: 'meshlet-system' },
  { group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: 'meshlet-system' },
  { group: '', resource: 'serviceaccounts', namespace: 'meshlet-system' },
  { group: '', resource: 'services', namespace: 'meshlet-system' },
  { group: 'apps', resource: 'deployments', namespace: 'meshlet-system' },
  { group: 'apps', resource: 'daemonsets', namespace: 'meshlet-system' },
  { group: 'policy', resource: 'poddisruptionbudgets', namespace: 'meshlet-system' },
];

/** The cluster, as the checks see it. */
export interface ClusterProbes {
  /** `gitVersion` of the API server (`v1.31.2`). */
  serverVersion(): Promise<string>;
  /** Whether the caller may `create` `resource` (in `namespace`, or cluster-wide). */
  canCreate(group: string, resource: string, namespace: string | undefined): Promise<boolean>;
  /** Names of the installed CRDs (`workloads.meshlet.io`). */
  crdNames(): Promise<string[]>;
}

/** Each request gives up after this long: a hung API server must not hang the check. */
const REQUEST_TIMEOUT_MS = 15_000;

/** Probes over the cluster `kc` reaches. */
export function clusterProbes(kc: KubeConfig): ClusterProbes {
  return {
    async serverVersion() {
      const info = await withTimeout(kc.makeApiClient(VersionApi).getCode(), REQUEST_TIMEOUT_MS);
      return info.gitVersion;
    },
    async canCreate(group, resource, namespace) {
      const review = await withTimeout(
        kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
          body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { group, resource, verb: 'create', ...(namespace === undefined ? {} : { namespace }) } } },
        }),
        REQUEST_TIMEOUT_MS,
      );
      return review.status?.allowed === true;
    },
    async crdNames() {
      const list = await withTimeout(kc.makeApiClient(ApiextensionsV1Api).listCustomResourceDefinition(), REQUEST_TIMEOUT_MS);
      return list.items.map((c) => c.metadata?.name ?? '').filter((n) => n !== '');
    },
  };
}

/** The version check: ok from {@link MIN_KUBERNETES} on; a version it cannot read fails. */
export function checkKubernetesVersion(gitVersion: string): CheckResult {
  const m = /^v?(\d+)\.(\d+)/.exec(gitVersion);
  if (m === null) return { name: 'Kubernetes version', outcome: 'fail', detail: `the API server reports ${JSON.stringify(gitVersion)}, not a version` };
  const [major, minor] = [Number(m[1]), Number(m[2])];
  const ok = major > MIN_KUBERNETES[0] || (major === MIN_KUBERNETES[0] && minor >= MIN_KUBERNETES[1]);
  return ok
    ? { name: 'Kubernetes version', outcome: 'ok', detail: gitVersion }
    : { name: 'Kubernetes version', outcome: 'fail', detail: `${gitVersion} is older than ${MIN_KUBERNETES.join('.')}`, hint: `meshlet needs Kubernetes ${MIN_KUBERNETES.join('.')} or later (the chart's kubeVersion)` };
}

/** The CRDs meshlet reads, by name: `<plural>.<group>` of every non-core resource it watches. */
function crdsRead(): { meshlet: string[]; other: string[] } {
  const names = KUBERNETES_RESOURCES.filter((r) => r.group !== '').map((r) => `${r.resource}.${r.group}`);
  return { meshlet: names.filter((n) => n.endsWith('.meshlet.io')), other: names.filter((n) => !n.endsWith('.meshlet.io')) };
}

/** Runs every cluster check, in order; an API that does not answer fails the first and skips the rest. */
export async function clusterPreChecks(probes: ClusterProbes): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  try {
    results.push(checkKubernetesVersion(await probes.serverVersion()));
  } catch (err) {
    results.push({ name: 'Kubernetes API', outcome: 'fail', detail: (err as Error).message, hint: 'is the kubeconfig (or --context) the cluster you mean? kubectl version says what it reaches' });
    return results;
  }
  const denied: string[] = [];
  const unknown: string[] = [];
  for (const p of INSTALL_PERMISSIONS) {
    const what = `${p.resource}${p.group === '' ? '' : `.${p.group}`}${p.namespace === undefined ? '' : ` in ${p.namespace}`}`;
    try {
      if (!(await probes.canCreate(p.group, p.resource, p.namespace))) denied.push(what);
    } catch (err) {
      unknown.push(`${what} (${(err as Error).message})`);
    }
  }
  if (denied.length === 0 && unknown.length === 0) results.push({ name: 'RBAC', outcome: 'ok', detail: `may create everything the install creates (${INSTALL_PERMISSIONS.length} kinds)` });
  else if (denied.length > 0) results.push({ name: 'RBAC', outcome: 'fail', detail: `may not create ${denied.join(', ')}`, hint: 'install as a cluster admin, or have one grant these (kubectl auth can-i create <resource> says the same)' });
  else results.push({ name: 'RBAC', outcome: 'warn', detail: `could not ask about ${unknown.join(', ')}`, hint: 'the API refused SelfSubjectAccessReview; kubectl auth can-i create <resource> asks the same' });
  let installed: Set<string>;
  try {
    installed = new Set(await probes.crdNames());
  } catch (err) {
    results.push({ name: 'CRDs', outcome: 'warn', detail: `could not list them: ${(err as Error).message}` });
    return results;
  }
  const { meshlet, other } = crdsRead();
  const present = meshlet.filter((n) => installed.has(n));
  results.push({
    name: 'meshlet CRDs',
    outcome: 'ok',
    detail: present.length === 0 ? `none yet: the install creates ${meshlet.length} (${meshlet.join(', ')})` : present.length === meshlet.length ? `all ${meshlet.length} installed (the install updates them)` : `${present.length} of ${meshlet.length} installed (${present.join(', ')}); the install creates the rest`,
  });
  const missing = other.filter((n) => !installed.has(n));
  results.push(
    missing.length === 0
      ? { name: 'other CRDs', outcome: 'ok', detail: `installed: ${other.join(', ')}` }
      : { name: 'other CRDs', outcome: 'warn', detail: `not installed: ${missing.join(', ')}: meshlet runs without them, and their objects (routes, Istio policies) are simply none`, hint: 'install the Gateway API CRDs (standard channel) to route with HTTPRoute and GRPCRoute' },
  );
  return results;
}
