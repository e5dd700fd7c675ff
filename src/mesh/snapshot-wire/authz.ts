/**
 * AuthorizationPolicies on the snapshot wire. Each travels as its plain data
 * ({@link AuthorizationPolicyData}), field by field. The agent reads them as untrusted input:
 * every field's type, every key (no field the model does not have: a policy field this agent
 * does not know could be a restriction it would silently skip), enumerations, string lengths
 * and list sizes are checked here, then the values with the parser's own rules
 * (`authorizationPolicyDataProblems`), so a policy from the wire is held to what a policy from
 * a file is. Each problem names the policy and the field.
 */
import { isDns1035Label, isDnsLabel, isDnsSubdomain, isLabelKey, isLabelValue } from '../validate/formats.js';
import { formatValue, isFields } from '../validate/values.js';
import type {
  AuthorizationPolicyData,
  AuthzAction,
  AuthzApiVersion,
  AuthzCondition,
  AuthzConditionKey,
  AuthzOperation,
  AuthzRule,
  AuthzSource,
} from '../authz/types.js';
import type { WireObject, WireProblems } from './checks.js';

/**
 * Bounds of the wire, generous beside what a person writes, so a hostile view cannot make the
 * agent build (or compile) millions of matchers. The parser's own limits are checked after.
 */
export const AUTHZ_WIRE_LIMITS = Object.freeze({
  /** Policies in one view. */
  policies: 20_000,
  /** Rules of one policy; `from`, `to` and `when` entries of one rule. */
  entries: 1024,
  /** Values of one list (principals, paths, ...). */
  values: 1024,
  /** Characters of one value. */
  valueLength: 4096,
  /** Labels of a selector. */
  labels: 64,
  /** Services of `targetServices`. */
  targetServices: 64,
});

const API_VERSIONS: readonly AuthzApiVersion[] = ['meshlet.io/v1alpha1', 'security.istio.io/v1', 'security.istio.io/v1beta1'];
const ACTIONS: readonly AuthzAction[] = ['ALLOW', 'DENY', 'AUDIT'];
const POLICY_FIELDS = ['key', 'namespace', 'name', 'apiVersion', 'action', 'selector', 'targetServices', 'rules', 'creationTimestamp'];
const SOURCE_FIELDS: readonly (keyof AuthzSource)[] = [
  'principals', 'notPrincipals', 'namespaces', 'notNamespaces', 'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks',
];
const OPERATION_FIELDS: readonly (keyof AuthzOperation)[] = ['ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths', 'hosts', 'notHosts'];
const CONDITION_KEYS: readonly string[] = [
  'source.principal', 'source.namespace', 'source.ip', 'remote.ip', 'destination.ip', 'destination.port', 'connection.sni',
];
/** `request.headers[name]`, the name lowercased (an HTTP field name's characters). */
const HEADER_CONDITION = /^request\.headers\[[!#$%&'*+\-.^_`|~0-9a-z]{1,256}\]$/;

/** Checks of the parser, when it provides them (`objects/authorization-policy.ts`). */
export type PolicyDataCheck = (data: AuthorizationPolicyData) => readonly string[];

/** The wire form of one policy: the model's fields and nothing else an object might hold. */
export function authorizationPolicyToWire(p: AuthorizationPolicyData): AuthorizationPolicyData {
  return {
    key: p.key,
    namespace: p.namespace,
    name: p.name,
    apiVersion: p.apiVersion,
    action: p.action,
    ...(p.selector === undefined ? {} : { selector: { ...p.selector } }),
    ...(p.targetServices === undefined ? {} : { targetServices: [...p.targetServices] }),
    rules: p.rules.map(ruleToWire),
    creationTimestamp: p.creationTimestamp,
  };
}

function ruleToWire(r: AuthzRule): AuthzRule {
  return {
    ...(r.from === undefined ? {} : { from: r.from.map((f) => ({ source: listsToWire(f.source, SOURCE_FIELDS) })) }),
    ...(r.to === undefined ? {} : { to: r.to.map((t) => ({ operation: listsToWire(t.operation, OPERATION_FIELDS) })) }),
    ...(r.when === undefined ? {} : { when: r.when.map(conditionToWire) }),
  };
}

/** The string lists of `o` named in `keys`, copied. */
function listsToWire<K extends string>(o: Partial<Readonly<Record<K, readonly string[]>>>, keys: readonly K[]): Partial<Record<K, string[]>> {
  const out: Partial<Record<K, string[]>> = {};
  for (const k of keys) {
    const list = o[k];
    if (list !== undefined) out[k] = [...list];
  }
  return out;
}

function conditionToWire(c: AuthzCondition): AuthzCondition {
  return {
    key: c.key,
    ...(c.values === undefined ? {} : { values: [...c.values] }),
    ...(c.notValues === undefined ? {} : { notValues: [...c.notValues] }),
  };
}

/**
 * Where one policy's problems go: the decode's collector, each field prefixed with the policy
 * (`cluster.authorizationPolicies[3] demo/deny: rules[0].when`). A view, not a collector.
 */
interface PolicyProblems {
  add(field: string, message: string): void;
}

/**
 * Decodes `cluster.authorizationPolicies`; absent (an older controller): none. `check` is the
 * parser's value check, run on each policy that is sound in structure.
 */
export function decodeAuthorizationPolicies(p: WireProblems, view: WireObject, check?: PolicyDataCheck): AuthorizationPolicyData[] {
  const list = view['authorizationPolicies'];
  if (list === undefined) return [];
  if (!Array.isArray(list)) {
    p.add('cluster.authorizationPolicies', `must be a list, got ${formatValue(list)}`);
    return [];
  }
  if (list.length > AUTHZ_WIRE_LIMITS.policies) {
    p.add('cluster.authorizationPolicies', `holds ${list.length} policies, more than ${AUTHZ_WIRE_LIMITS.policies}`);
    return [];
  }
  const seen = new Set<string>();
  const out: AuthorizationPolicyData[] = [];
  list.forEach((value, i) => {
    const before = p.total;
    const policy = decodePolicy(p, value, `cluster.authorizationPolicies[${i}]`);
    if (policy === undefined || p.total !== before) return;
    const problems = check?.(policy) ?? [];
    for (const problem of problems) p.add(`cluster.authorizationPolicies[${i}] ${policy.key}`, problem);
    // Two objects of one API group and name are one object sent twice (see cluster-conflicts.ts).
    const id = `${policy.apiVersion.split('/')[0] ?? ''} ${policy.key}`;
    if (seen.has(id)) p.add(`cluster.authorizationPolicies[${i}] ${policy.key}`, `appears twice (${policy.apiVersion})`);
    seen.add(id);
    if (problems.length === 0) out.push(policy);
  });
  return out;
}

/** One policy, or undefined when it is not an object at all. */
function decodePolicy(wp: WireProblems, value: unknown, path: string): AuthorizationPolicyData | undefined {
  if (!isFields(value)) {
    wp.add(path, `must be an object, got ${formatValue(value)}`);
    return undefined;
  }
  const key = value['key'];
  const namespace = value['namespace'];
  const name = value['name'];
  const keyOk = typeof key === 'string' && typeof namespace === 'string' && typeof name === 'string' && isDnsLabel(namespace) && isDnsSubdomain(name) && key === `${namespace}/${name}`;
  const head = keyOk ? `${path} ${key}: ` : `${path}.`;
  const p: PolicyProblems = { add: (field, message) => wp.add(`${head}${field}`, message) };
  if (!keyOk) keyProblems(p, key, namespace, name);
  exactFields(p, value, POLICY_FIELDS, '');
  const apiVersion = oneOf(p, value['apiVersion'], 'apiVersion', API_VERSIONS);
  const action = oneOf(p, value['action'], 'action', ACTIONS);
  const creationTimestamp = value['creationTimestamp'];
  if (!(typeof creationTimestamp === 'number' && Number.isSafeInteger(creationTimestamp) && creationTimestamp >= 0)) {
    p.add('creationTimestamp', `must be a whole number of milliseconds >= 0, got ${formatValue(creationTimestamp)}`);
  }
  const rules = boundedList(p, value['rules'], 'rules', AUTHZ_WIRE_LIMITS.entries).map((r, i) => decodeRule(p, r, `rules[${i}]`));
  const policy: AuthorizationPolicyData = {
    key: String(key),
    namespace: String(namespace),
    name: String(name),
    apiVersion,
    action,
    rules,
    creationTimestamp: typeof creationTimestamp === 'number' ? creationTimestamp : 0,
  };
  const withSelector = value['selector'] === undefined ? policy : { ...policy, selector: decodeSelector(p, value['selector']) };
  if (value['targetServices'] === undefined) return withSelector;
  const targetServices = values(p, value['targetServices'], 'targetServices', AUTHZ_WIRE_LIMITS.targetServices).map((s, i) => {
    if (!isDns1035Label(s)) p.add(`targetServices[${i}]`, `${formatValue(s)} is not a Service name (a DNS-1035 label)`);
    return s;
  });
  return { ...withSelector, targetServices };
}

function keyProblems(p: PolicyProblems, key: unknown, namespace: unknown, name: unknown): void {
  if (typeof namespace !== 'string' || !isDnsLabel(namespace)) p.add('namespace', `${formatValue(namespace)} is not a namespace (a DNS-1123 label)`);
  else if (typeof name !== 'string' || !isDnsSubdomain(name)) p.add('name', `${formatValue(name)} is not an object name (a DNS-1123 subdomain)`);
  else p.add('key', `${formatValue(key)} is not ${JSON.stringify(`${namespace}/${name}`)}`);
}

function decodeSelector(p: PolicyProblems, value: unknown): Record<string, string> {
  if (!isFields(value)) {
    p.add('selector', `must be an object, got ${formatValue(value)}`);
    return {};
  }
  const entries = Object.entries(value);
  if (entries.length > AUTHZ_WIRE_LIMITS.labels) p.add('selector', `holds ${entries.length} labels, more than ${AUTHZ_WIRE_LIMITS.labels}`);
  const out: Record<string, string> = {};
  for (const [k, v] of entries.slice(0, AUTHZ_WIRE_LIMITS.labels)) {
    if (!isLabelKey(k)) p.add(`selector[${JSON.stringify(k.slice(0, 64))}]`, 'is not a label key');
    else if (typeof v !== 'string' || !isLabelValue(v)) p.add(`selector.${k}`, `${formatValue(v)} is not a label value`);
    else out[k] = v;
  }
  return out;
}

function decodeRule(p: PolicyProblems, value: unknown, path: string): AuthzRule {
  if (!isFields(value)) {
    p.add(path, `must be an object, got ${formatValue(value)}`);
    return {};
  }
  exactFields(p, value, ['from', 'to', 'when'], path);
  const rule: { -readonly [K in keyof AuthzRule]: AuthzRule[K] } = {};
  if (value['from'] !== undefined) {
    rule.from = boundedList(p, value['from'], `${path}.from`, AUTHZ_WIRE_LIMITS.entries).map((f, i) => ({
      source: stringLists(p, wrapped(p, f, 'source', `${path}.from[${i}]`), SOURCE_FIELDS, `${path}.from[${i}].source`),
    }));
  }
  if (value['to'] !== undefined) {
    rule.to = boundedList(p, value['to'], `${path}.to`, AUTHZ_WIRE_LIMITS.entries).map((o, i) => ({
      operation: stringLists(p, wrapped(p, o, 'operation', `${path}.to[${i}]`), OPERATION_FIELDS, `${path}.to[${i}].operation`),
    }));
  }
  if (value['when'] !== undefined) {
    rule.when = boundedList(p, value['when'], `${path}.when`, AUTHZ_WIRE_LIMITS.entries).map((c, i) => decodeCondition(p, c, `${path}.when[${i}]`));
  }
  return rule;
}

/** `{ <name>: {...} }` (a `from` or `to` entry): the inner object; no other field. */
function wrapped(p: PolicyProblems, value: unknown, name: string, path: string): unknown {
  if (!isFields(value)) {
    p.add(path, `must be an object, got ${formatValue(value)}`);
    return {};
  }
  exactFields(p, value, [name], path);
  if (value[name] !== undefined) return value[name];
  p.add(`${path}.${name}`, 'required');
  return {};
}

function decodeCondition(p: PolicyProblems, value: unknown, path: string): AuthzCondition {
  if (!isFields(value)) {
    p.add(path, `must be an object, got ${formatValue(value)}`);
    return { key: 'source.ip' };
  }
  exactFields(p, value, ['key', 'values', 'notValues'], path);
  const key = value['key'];
  if (typeof key !== 'string' || !(CONDITION_KEYS.includes(key) || HEADER_CONDITION.test(key))) {
    p.add(`${path}.key`, `${formatValue(key)} is not a supported condition key`);
  }
  const condition: { -readonly [K in keyof AuthzCondition]: AuthzCondition[K] } = { key: (typeof key === 'string' ? key : '') as AuthzConditionKey };
  if (value['values'] !== undefined) condition.values = values(p, value['values'], `${path}.values`, AUTHZ_WIRE_LIMITS.values);
  if (value['notValues'] !== undefined) condition.notValues = values(p, value['notValues'], `${path}.notValues`, AUTHZ_WIRE_LIMITS.values);
  return condition;
}

/** An object whose fields are all optional string lists, named in `allowed`. */
function stringLists<K extends string>(p: PolicyProblems, value: unknown, allowed: readonly K[], path: string): Partial<Record<K, string[]>> {
  if (!isFields(value)) {
    p.add(path, `must be an object, got ${formatValue(value)}`);
    return {};
  }
  exactFields(p, value, allowed, path);
  const out: Partial<Record<K, string[]>> = {};
  for (const k of allowed) if (value[k] !== undefined) out[k] = values(p, value[k], `${path}.${k}`, AUTHZ_WIRE_LIMITS.values);
  return out;
}

/** A list of at most `max` strings of at most {@link AUTHZ_WIRE_LIMITS.valueLength} characters. */
function values(p: PolicyProblems, value: unknown, path: string, max: number): string[] {
  return boundedList(p, value, path, max).flatMap((v, i) => {
    if (typeof v === 'string' && v.length <= AUTHZ_WIRE_LIMITS.valueLength) return [v];
    p.add(`${path}[${i}]`, typeof v === 'string' ? `is longer than ${AUTHZ_WIRE_LIMITS.valueLength} characters` : `must be a string, got ${formatValue(v)}`);
    return [];
  });
}

/** A list of at most `max` entries (an empty list when it is not one). */
function boundedList(p: PolicyProblems, value: unknown, path: string, max: number): readonly unknown[] {
  if (!Array.isArray(value)) {
    p.add(path, value === undefined ? 'required (a list)' : `must be a list, got ${formatValue(value)}`);
    return [];
  }
  if (value.length <= max) return value;
  p.add(path, `holds ${value.length} entries, more than ${max}`);
  return [];
}

function oneOf<T extends string>(p: PolicyProblems, value: unknown, path: string, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  p.add(path, value === undefined ? `required (one of ${allowed.join(', ')})` : `${formatValue(value)} is not one of ${allowed.join(', ')}`);
  return allowed[0] as T;
}

/** Records each key of `value` that is not in `allowed`. */
function exactFields(p: PolicyProblems, value: Readonly<Record<string, unknown>>, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(value)) {
    if (!allowed.includes(k)) p.add(path === '' ? JSON.stringify(k.slice(0, 64)) : `${path}[${JSON.stringify(k.slice(0, 64))}]`, 'is not a field of an AuthorizationPolicy here (an agent older than its controller?)');
  }
}
