/**
 * Writes TrafficPolicy status (GEP-713 `status.ancestors`, see `mesh/traffic-policy-status.ts`)
 * back to Kubernetes (the leader only: the controller makes this writer after winning the
 * Lease). Valid policies' statuses come with each published state; policies left out for
 * failing validation come from the source's exclusions (they change no state). One write is a
 * GET (status, resourceVersion, generation), a merge (`traffic-policy-status-patch.ts`) and a
 * PUT to the status subresource when meshlet's entries change; the loop around it
 * (`status-write-loop.ts`) skips what was written, bounds a pass and retries failures.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubernetesApiCall } from '../../ca/kubernetes-api.js';
import type { ObjectProblem } from '../../mesh/objects/report.js';
import { invalidTrafficPolicyStatus, type TrafficPolicyStatus } from '../../mesh/traffic-policy-status.js';
import { isFields } from '../../mesh/validate/values.js';
import { canonicalJson } from '../canonical-json.js';
import { getJson, putJson, type RequestLimits } from './kube-client.js';
import { kubeSourceName } from './kube-objects.js';
import { MESHLET_GROUP, MESHLET_VERSION, TRAFFIC_POLICIES_RESOURCE } from './kube-resources.js';
import { StatusWriteLoop, type StatusWriteCounters } from './status-write-loop.js';
import { trafficPolicyStatusBody } from './traffic-policy-status-patch.js';

/** The calls the writer makes; the RBAC manifests are derived from them (test/unit/install/rbac.test.ts). */
export const TRAFFIC_POLICY_STATUS_API_CALLS: readonly KubernetesApiCall[] = Object.freeze([
  { group: MESHLET_GROUP, version: MESHLET_VERSION, resource: TRAFFIC_POLICIES_RESOURCE, verbs: ['get'], scope: 'cluster' as const, why: "read a TrafficPolicy's status, resourceVersion and generation before writing its status" },
  { group: MESHLET_GROUP, version: MESHLET_VERSION, resource: `${TRAFFIC_POLICIES_RESOURCE}/status`, verbs: ['update'], scope: 'cluster' as const, why: 'write Accepted (Accepted, Conflicted, TargetNotFound, Invalid) per target' },
]);

/** Policies written per pass: a bound on the API calls one change causes (two per policy). */
export const MAX_POLICIES_PER_PASS = 200;
/** Delay before a pass that retries failures (or the policies past the per-pass bound). */
export const RETRY_DELAY_MS = 5_000;
/** Problems kept per invalid policy: the message is cut at 32 KiB anyway. */
const MAX_PROBLEMS_PER_POLICY = 64;
const LIMITS: RequestLimits = { timeoutMs: 30_000, maxBytes: 4 * 1024 * 1024 };

/** A policy that failed validation, named by the problems the source reported for it. */
export interface InvalidTrafficPolicy {
  readonly namespace: string;
  readonly name: string;
  readonly problems: readonly string[];
}

type Item = { readonly valid: TrafficPolicyStatus } | { readonly invalid: InvalidTrafficPolicy };

const PREFIX = kubeSourceName('TrafficPolicy/');
/** `demo/web (document 1): ...` after the prefix: a Kubernetes namespace and name hold no `/`, space or `:`. */
const KEY = /^([^/\s:]+)\/([^/\s:]+)[\s:]/;

/**
 * The TrafficPolicies among a Kubernetes source's exclusions (`RegistryContents.excluded`),
 * each with its problem lines, sorted by `namespace/name`. Pure.
 */
export function invalidTrafficPolicies(excluded: readonly ObjectProblem[]): InvalidTrafficPolicy[] {
  const byKey = new Map<string, { namespace: string; name: string; problems: string[] }>();
  for (const p of excluded) {
    if (!p.text.startsWith(PREFIX)) continue;
    const m = KEY.exec(p.text.slice(PREFIX.length));
    if (m === null) continue;
    const [, namespace, name] = m as unknown as [string, string, string];
    const key = `${namespace}/${name}`;
    const entry = byKey.get(key) ?? { namespace, name, problems: [] };
    if (entry.problems.length < MAX_PROBLEMS_PER_POLICY) entry.problems.push(p.text);
    byKey.set(key, entry);
  }
  return [...byKey.keys()].sort().map((k) => byKey.get(k) as InvalidTrafficPolicy);
}

const itemName = (i: Item): { namespace: string; name: string } => ('valid' in i ? i.valid : i.invalid);

export class TrafficPolicyStatusWriter {
  private readonly kubeConfig: KubeConfig;
  private readonly now: () => Date;
  private readonly loop: StatusWriteLoop<Item>;
  private valid: readonly TrafficPolicyStatus[] = [];
  private invalid: readonly InvalidTrafficPolicy[] = [];
  private invalidDigest = canonicalJson([]);

  constructor(opts: { kubeConfig: KubeConfig; logger: Logger; retryDelayMs?: number; now?: () => Date }) {
    this.kubeConfig = opts.kubeConfig;
    this.now = opts.now ?? (() => new Date());
    this.loop = new StatusWriteLoop<Item>({
      ops: {
        key: (i) => `TrafficPolicy/${itemName(i).namespace}/${itemName(i).name}`,
        wanted: (i) => canonicalJson('valid' in i ? { ancestors: i.valid.ancestors, generation: i.valid.generation, policy: i.valid.policy } : { problems: i.invalid.problems }),
        write: (i) => this.write(i),
      },
      logger: opts.logger.child({ component: 'traffic-policy-status' }),
      failureMessage: 'TrafficPolicy status write failed; retrying (throttled: one line a minute)',
      retryDelayMs: opts.retryDelayMs ?? RETRY_DELAY_MS,
      maxPerPass: MAX_POLICIES_PER_PASS,
    });
  }

  /** A new state's statuses of valid policies (`trafficPolicyStatusesOf`). */
  update(statuses: readonly TrafficPolicyStatus[]): void {
    this.valid = statuses;
    this.changed();
  }

  /**
   * The source's exclusions now: the TrafficPolicies among them get `Invalid`. Called on every
   * source change (a busy cluster has pod events all the time): the same set is no new pass.
   */
  updateInvalid(excluded: readonly ObjectProblem[]): void {
    const invalid = invalidTrafficPolicies(excluded);
    const digest = canonicalJson(invalid);
    if (digest === this.invalidDigest) return;
    this.invalidDigest = digest;
    this.invalid = invalid;
    this.changed();
  }

  counters(): StatusWriteCounters {
    return this.loop.counters();
  }

  /** Resolves when no pass is running (for tests and shutdown). */
  idle(): Promise<void> {
    return this.loop.idle();
  }

  close(): void {
    this.loop.close();
  }

  private changed(): void {
    // The exclusions are read from the source as it is now; a state may lag behind it, so a
    // policy in both is invalid.
    const invalid = new Set(this.invalid.map((i) => `${i.namespace}/${i.name}`));
    const valid = this.valid.filter((s) => !invalid.has(`${s.namespace}/${s.name}`));
    this.loop.set([...valid.map((s) => ({ valid: s })), ...this.invalid.map((i) => ({ invalid: i }))]);
  }

  /** One policy: GET, merge meshlet's ancestors, PUT `/status` when they change. */
  private async write(item: Item): Promise<'written' | 'unchanged' | 'absent'> {
    const { namespace, name } = itemName(item);
    const path = `/apis/${MESHLET_GROUP}/${MESHLET_VERSION}/namespaces/${encodeURIComponent(namespace)}/${TRAFFIC_POLICIES_RESOURCE}/${encodeURIComponent(name)}`;
    let object: unknown;
    try {
      object = await getJson(this.kubeConfig, path, LIMITS);
    } catch (err) {
      // Deleted meanwhile: nothing to write.
      if ((err as { statusCode?: unknown }).statusCode === 404) return 'absent';
      throw err;
    }
    if (!isFields(object)) throw new Error(`GET ${path}: not an object`);
    // An invalid policy whose targetRefs name nothing gets no ancestor, and loses the stale
    // ones meshlet wrote when it was valid.
    const status = 'valid' in item ? item.valid : invalidTrafficPolicyStatus(object, item.invalid.problems) ?? { namespace, name, ancestors: [] };
    const meta = object['metadata'];
    const read = isFields(meta) && Number.isSafeInteger(meta['generation']) ? (meta['generation'] as number) : undefined;
    const body = trafficPolicyStatusBody(object['status'], status, status.generation ?? read, this.now().toISOString().replace(/\.\d+Z$/, 'Z'));
    if (body === undefined) return 'unchanged';
    await putJson(this.kubeConfig, `${path}/status`, { ...object, status: body }, LIMITS);
    return 'written';
  }
}
