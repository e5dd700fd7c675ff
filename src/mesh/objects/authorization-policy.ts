/**
 * `AuthorizationPolicy`: meshlet's own `meshlet.io/v1alpha1` kind and Istio's
 * `security.istio.io/v1` and `v1beta1` objects read as they are (one schema: moving a policy
 * between them is a change of apiVersion). This file reads the object (metadata, `selector`,
 * `targetRef(s)`, `action`) and re-validates plain data from the wire; the rules and their
 * values are `authz-rules.ts`, shared by both so they can never disagree.
 *
 * ```yaml
 * apiVersion: security.istio.io/v1
 * kind: AuthorizationPolicy
 * metadata: {name: allow-read, namespace: demo}
 * spec:
 *   selector: {matchLabels: {app: web}}
 *   action: ALLOW
 *   rules:
 *   - from: [{source: {principals: ["cluster.local/ns/demo/sa/client"]}}]
 *     to: [{operation: {methods: ["GET", "HEAD"], paths: ["/api/*"]}}]
 * ```
 */
import type { Reporter } from './report.js';
import { isDns1035Label, isDnsLabel, isDnsSubdomain, isLabelKey, isLabelValue } from '../validate/formats.js';
import { Problems, type ProblemSink } from '../validate/problems.js';
import { checkFields, checkName, optEnum, optLabels, optList, optMap, optString, reqString } from '../validate/readers.js';
import { type FieldPath, type Fields, formatValue, isFields, isMissing } from '../validate/values.js';
import { checkAuthzKeys, readAuthzRules } from './authz-rules.js';
import { OBJECT_FIELDS } from './fields.js';
import { MESHLET_API_VERSION } from './meshlet.js';
import { readCreationTimestamp, readMeta, SUBDOMAIN_NAME } from './meta.js';
import type { AuthorizationPolicyData, AuthzAction, AuthzApiVersion, AuthzRule } from '../authz/types.js';
import type { AuthorizationPolicyObject, SourceRef } from '../types.js';

/** Istio's API versions of AuthorizationPolicy, read as meshlet's own (`parse.ts` registers them). */
export const ISTIO_AUTHZ_API_VERSIONS = ['security.istio.io/v1', 'security.istio.io/v1beta1'] as const;
/** Every apiVersion an AuthorizationPolicy is read from. */
export const AUTHZ_API_VERSIONS: readonly AuthzApiVersion[] = [MESHLET_API_VERSION, ...ISTIO_AUTHZ_API_VERSIONS];
/** The actions meshlet enforces (Istio's CUSTOM needs an external authorizer: refused). */
export const AUTHZ_ACTIONS: readonly AuthzAction[] = ['ALLOW', 'DENY', 'AUDIT'];
/** `targetRefs` of one policy: Istio's CRD cap (`MaxItems=16`). */
export const MAX_AUTHZ_TARGET_REFS = 16;
/** Labels of `selector.matchLabels`: a selector names a few; the snapshot wire holds 64. */
export const MAX_AUTHZ_SELECTOR_LABELS = 64;

const SPEC_FIELDS = ['selector', 'targetRef', 'targetRefs', 'action', 'rules'];
const CUSTOM = 'not supported: CUSTOM needs an external authorizer (provider), which meshlet does not have';
const DENY_WITHOUT_RULES = 'required when action is DENY: a DENY policy without rules never matches (Istio refuses it); write rules: [{}] to deny every request';
const DATA_FIELDS = ['key', 'namespace', 'name', 'apiVersion', 'action', 'selector', 'targetServices', 'rules', 'creationTimestamp'];

/** Validates an AuthorizationPolicy document (any of {@link AUTHZ_API_VERSIONS}) and converts it. */
export function authorizationPolicyFrom(r: Reporter, obj: Fields, source: SourceRef): AuthorizationPolicyObject {
  const meta = readMeta(r, obj, 'AuthorizationPolicy', true, SUBDOMAIN_NAME);
  const creationTimestamp = readCreationTimestamp(r, obj);
  // `status` is tolerated: Istio writes the policy's validation status there.
  checkFields(r, obj, [], OBJECT_FIELDS);
  const apiVersion = AUTHZ_API_VERSIONS.find((v) => v === obj['apiVersion']) ?? MESHLET_API_VERSION;
  // No spec is Istio's `spec: {}`: an ALLOW policy with no rules, which allows nothing.
  const spec = optMap(r, obj, 'spec', []) ?? {};
  checkAuthzKeys(r, spec, ['spec'], SPEC_FIELDS, { provider: CUSTOM });
  const action = spec['action'] === 'CUSTOM' ? customAction(r) : optEnum(r, spec, 'action', ['spec'], AUTHZ_ACTIONS) ?? 'ALLOW';
  const selector = readSelector(r, spec);
  const targetServices = readTargetRefs(r, spec, meta.namespace);
  if (selector.written && targetServices !== undefined) {
    r.report(['spec', 'selector'], 'set selector or targetRefs, not both (Istio makes them exclusive)');
  }
  const rules = readAuthzRules(r, spec['rules'], ['spec', 'rules'], 'object');
  checkDenyRules(r, action, rules, ['spec', 'rules']);
  const policy: AuthorizationPolicyData = {
    key: `${meta.namespace}/${meta.name}`,
    namespace: meta.namespace,
    name: meta.name,
    apiVersion,
    action,
    ...(selector.labels === undefined ? {} : { selector: selector.labels }),
    ...(targetServices === undefined ? {} : { targetServices }),
    rules,
    creationTimestamp,
  };
  return { kind: 'AuthorizationPolicy', ...meta, source, policy };
}

function customAction(r: Reporter): AuthzAction {
  r.report(['spec', 'action'], CUSTOM);
  return 'ALLOW';
}

/** Istio refuses a DENY policy without rules; the wire check holds data to the same. */
function checkDenyRules(sink: ProblemSink, action: AuthzAction, rules: readonly AuthzRule[], path: FieldPath): void {
  if (action === 'DENY' && rules.length === 0) sink.report(path, DENY_WITHOUT_RULES);
}

/**
 * `spec.selector.matchLabels`. Empty (`selector: {}`, `matchLabels: {}`) is Istio's "every
 * workload of the namespace", the same as no selector, so it yields none; `written` still says a
 * selector was set, which Istio refuses beside `targetRefs`.
 */
function readSelector(r: Reporter, spec: Fields): { written: boolean; labels?: Record<string, string> } {
  const at: FieldPath = ['spec', 'selector'];
  const selector = optMap(r, spec, 'selector', ['spec']);
  if (selector === undefined) return { written: !isMissing(spec['selector']) };
  checkFields(r, selector, at, ['matchLabels'], true);
  const labels = optLabels(r, selector, 'matchLabels', at);
  const count = Object.keys(labels).length;
  if (count > MAX_AUTHZ_SELECTOR_LABELS) r.report([...at, 'matchLabels'], `at most ${MAX_AUTHZ_SELECTOR_LABELS} labels, got ${count}`);
  return count === 0 ? { written: true } : { written: true, labels };
}

/**
 * `spec.targetRefs` (and the deprecated single `targetRef`): Services of the policy's namespace,
 * by name, deduplicated; undefined when none is set. Kinds that attach a policy to a gateway or
 * a waypoint are refused: meshlet has neither.
 */
function readTargetRefs(r: Reporter, spec: Fields, namespace: string): string[] | undefined {
  const single = optMap(r, spec, 'targetRef', ['spec']);
  const list = optList(r, spec, 'targetRefs', ['spec']);
  if (single !== undefined && list.length > 0) r.report(['spec', 'targetRef'], 'set targetRef or targetRefs, not both (targetRef is deprecated: write targetRefs)');
  if (list.length > MAX_AUTHZ_TARGET_REFS) {
    r.report(['spec', 'targetRefs'], `at most ${MAX_AUTHZ_TARGET_REFS} entries, got ${list.length}`);
    return [];
  }
  const refs: [unknown, FieldPath][] = list.map((ref, i) => [ref, ['spec', 'targetRefs', i]]);
  if (single !== undefined) refs.unshift([single, ['spec', 'targetRef']]);
  if (refs.length === 0) return undefined;
  const names = new Set<string>();
  for (const [ref, at] of refs) {
    const name = readTargetRef(r, ref, at, namespace);
    if (name !== undefined) names.add(name);
  }
  return [...names];
}

/** Why meshlet refuses a targetRef kind Istio has. */
const UNSUPPORTED_TARGET_KINDS: Readonly<Record<string, string>> = {
  Gateway: 'not supported: a Gateway target applies the policy to the gateway\'s proxy, and meshlet has no gateways or waypoints',
  GatewayClass: 'not supported: a GatewayClass target applies the policy to gateway proxies, and meshlet has no gateways or waypoints',
  ServiceEntry: 'not supported: Istio enforces a ServiceEntry target at a waypoint, and meshlet has no waypoints (nor ServiceEntry)',
};

function readTargetRef(r: Reporter, ref: unknown, at: FieldPath, namespace: string): string | undefined {
  if (!isFields(ref)) {
    r.report(at, `must be a mapping {group: "", kind: Service, name}, got ${formatValue(ref)}`);
    return undefined;
  }
  checkFields(r, ref, at, ['group', 'kind', 'name', 'namespace'], true);
  const kind = reqString(r, ref, 'kind', at);
  if (kind !== undefined && Object.hasOwn(UNSUPPORTED_TARGET_KINDS, kind)) {
    r.report([...at, 'kind'], `${UNSUPPORTED_TARGET_KINDS[kind] ?? ''}; target a Service, or select workloads with spec.selector`);
    return undefined;
  }
  if (kind !== undefined && kind !== 'Service') r.report([...at, 'kind'], `must be Service, got ${formatValue(kind)}`);
  const group = ref['group'];
  if (!isMissing(group) && group !== 'core') r.report([...at, 'group'], `must be "" (or "core", the group of Service), got ${formatValue(group)}`);
  const ns = optString(r, ref, 'namespace', at);
  if (ns !== undefined && ns !== namespace) {
    r.report([...at, 'namespace'], `must be the policy's namespace ${formatValue(namespace)} (a policy cannot target another namespace; Istio refuses it too)`);
  }
  const name = reqString(r, ref, 'name', at);
  if (name === undefined || !checkName(r, name, [...at, 'name'], isDns1035Label, 'a Service name (DNS-1035 label)')) return undefined;
  return name;
}

/**
 * Re-validates a policy already in plain data, as decoded from the wire (untrusted): every field
 * of {@link AuthorizationPolicyData}, nothing else, and every rule and value with the parser's own
 * checks. Each problem is one line naming the field (`rules[0].from[0].source.principals[2]: ...`).
 * Data the parser produced has none.
 */
export function authorizationPolicyDataProblems(data: AuthorizationPolicyData): string[] {
  const p = new Problems();
  const value: unknown = data;
  if (!isFields(value)) return [`policy: must be an object, got ${formatValue(value)}`];
  checkAuthzKeys(p, value, [], DATA_FIELDS);
  const { namespace, name } = value;
  if (typeof namespace !== 'string' || !isDnsLabel(namespace)) p.report(['namespace'], `must be a namespace (DNS-1123 label), got ${formatValue(namespace)}`);
  if (typeof name !== 'string' || !isDnsSubdomain(name)) p.report(['name'], `must be an object name (DNS-1123 subdomain), got ${formatValue(name)}`);
  if (value['key'] !== `${String(namespace)}/${String(name)}`) p.report(['key'], `must be "<namespace>/<name>", got ${formatValue(value['key'])}`);
  if (!AUTHZ_API_VERSIONS.includes(value['apiVersion'] as AuthzApiVersion)) p.report(['apiVersion'], `must be one of ${AUTHZ_API_VERSIONS.join(', ')}, got ${formatValue(value['apiVersion'])}`);
  const action = value['action'] as AuthzAction;
  if (!AUTHZ_ACTIONS.includes(action)) p.report(['action'], `must be one of ${AUTHZ_ACTIONS.join(', ')}, got ${formatValue(action)}`);
  const ts = value['creationTimestamp'];
  if (!(typeof ts === 'number' && Number.isSafeInteger(ts) && ts >= 0)) p.report(['creationTimestamp'], `must be whole milliseconds >= 0, got ${formatValue(ts)}`);
  dataSelectorProblems(p, value);
  dataTargetProblems(p, value);
  if (!Array.isArray(value['rules'])) p.report(['rules'], `must be a list of rules, got ${formatValue(value['rules'])}`);
  const rules = readAuthzRules(p, value['rules'], ['rules'], 'wire');
  if (Array.isArray(value['rules'])) checkDenyRules(p, action, rules, ['rules']);
  const more = p.total - p.lines.length;
  return more > 0 ? [...p.lines, `... and ${more} more`] : [...p.lines];
}

/** `selector`: absent, or 1 to {@link MAX_AUTHZ_SELECTOR_LABELS} labels (the parser never emits an empty one). */
function dataSelectorProblems(p: Problems, value: Fields): void {
  const selector = value['selector'];
  if (selector === undefined) return;
  if (!isFields(selector)) {
    p.report(['selector'], `must be a mapping of labels, got ${formatValue(selector)}`);
    return;
  }
  const keys = Object.keys(selector);
  if (keys.length === 0 || keys.length > MAX_AUTHZ_SELECTOR_LABELS) {
    p.report(['selector'], `must hold 1 to ${MAX_AUTHZ_SELECTOR_LABELS} labels (absent: every workload), got ${keys.length}`);
    return;
  }
  for (const key of keys) {
    const label = selector[key];
    if (!isLabelKey(key)) p.report(['selector', key.slice(0, 64)], 'invalid label key');
    else if (typeof label !== 'string' || !isLabelValue(label)) p.report(['selector', key], `invalid label value ${formatValue(label)}`);
  }
}

/** `targetServices`: absent, or 1 to {@link MAX_AUTHZ_TARGET_REFS} distinct Service names, never with a selector. */
function dataTargetProblems(p: Problems, value: Fields): void {
  const targets = value['targetServices'];
  if (targets === undefined) return;
  if (!Array.isArray(targets) || targets.length === 0 || targets.length > MAX_AUTHZ_TARGET_REFS) {
    const got = Array.isArray(targets) ? `${targets.length} entries` : formatValue(targets);
    p.report(['targetServices'], `must be a list of 1 to ${MAX_AUTHZ_TARGET_REFS} Service names, got ${got}`);
    return;
  }
  if (value['selector'] !== undefined) p.report(['targetServices'], 'set selector or targetServices, not both');
  targets.forEach((t: unknown, i) => {
    if (typeof t !== 'string' || !isDns1035Label(t)) p.report(['targetServices', i], `must be a Service name (DNS-1035 label), got ${formatValue(t)}`);
    else if (targets.indexOf(t) !== i) p.report(['targetServices', i], `duplicate Service ${formatValue(t)}`);
  });
}
