/**
 * An AuthorizationPolicy's rules compiled for evaluation: every field of every `from`, `to` and
 * `when` entry becomes one {@link FieldCheck} (its attribute, its compiled matcher, whether it is
 * negated and whether it is L7), so the engine runs one small loop and one switch per field.
 * A policy's compiled form depends only on its data, so it is kept in a WeakMap and shared by
 * every workload the policy selects (a mesh-wide policy is compiled once per snapshot, not once
 * per workload).
 */
import { MeshletError } from '../errors.js';
import { BadIpBlockError, IpBlocks } from './ip-blocks.js';
import { PathMatcher, StringMatcher } from './match.js';
import type { SelectedPolicy } from './select.js';
import type { AuthorizationPolicyData, AuthzAction, AuthzCondition, AuthzOperation, AuthzRule, AuthzSource, AuthzVerdict } from './types.js';

/** The attribute a field compares (numbers: one switch in the hot loop). */
export const ATTR_PRINCIPAL = 0;
export const ATTR_NAMESPACE = 1;
export const ATTR_SOURCE_IP = 2;
export const ATTR_REMOTE_IP = 3;
export const ATTR_DESTINATION_IP = 4;
export const ATTR_PORT = 5;
export const ATTR_SNI = 6;
export const ATTR_METHOD = 7;
export const ATTR_PATH = 8;
export const ATTR_HOST = 9;
export const ATTR_HEADER = 10;

/**
 * Which cached verdict of a rule: `request` and `connection-opaque` (no `deferred`),
 * `connection-http` final, `connection-http` with requests still checked, and an ALLOW rule
 * whose L4 part let a connection in (its L7 fields are checked on each request).
 */
export const SLOT_PLAIN = 0;
export const SLOT_FINAL = 1;
export const SLOT_DEFERRED = 2;
export const SLOT_PARTIAL = 3;
export type VerdictSlot = 0 | 1 | 2 | 3;

/** One field of a rule: `values` compared with one attribute; `negate` for `not*` / `notValues`. */
export class FieldCheck {
  constructor(
    readonly attr: number,
    readonly negate: boolean,
    /** Needs an HTTP request: methods, paths, hosts (and `not*`), `request.*` conditions. */
    readonly l7: boolean,
    readonly strings: StringMatcher | PathMatcher | null,
    readonly ips: IpBlocks | null,
    readonly ports: ReadonlySet<number> | null,
    /** `request.headers[name]`: the lowercase name. */
    readonly header: string,
    /** For `explain`: where in the policy (`from[1].source.principals`, `when[0]`), and the values. */
    readonly field: string,
    readonly values: readonly string[],
    /** For `explain`: the condition key, for `when` entries. */
    readonly key: string,
  ) {}
}

/** One rule: any `from` entry, any `to` entry, every `when` check (null: absent, matches). */
export class CompiledRule {
  /** Verdicts naming this rule without audits, made on first use, by {@link VerdictSlot}. */
  readonly verdicts: (AuthzVerdict | undefined)[] = [undefined, undefined, undefined, undefined];

  constructor(
    readonly index: number,
    readonly from: readonly (readonly FieldCheck[])[] | null,
    readonly to: readonly (readonly FieldCheck[])[] | null,
    readonly when: readonly FieldCheck[] | null,
    readonly l7: boolean,
  ) {}
}

/** A selected policy ready for evaluation: its compiled rules and the ports it applies to. */
export interface BoundPolicy {
  readonly selected: SelectedPolicy;
  readonly key: string;
  readonly action: AuthzAction;
  readonly compiled: CompiledPolicy;
  /** targetRef: the destination ports it applies to; null: every port. */
  readonly ports: ReadonlySet<number> | null;
}

/** A policy's rules compiled. */
export interface CompiledPolicy {
  readonly key: string;
  readonly rules: readonly CompiledRule[];
  /** Some rule has an L7 field. */
  readonly l7: boolean;
}

const SOURCE_FIELDS: readonly (readonly [keyof AuthzSource, number, boolean])[] = [
  ['principals', ATTR_PRINCIPAL, false],
  ['notPrincipals', ATTR_PRINCIPAL, true],
  ['namespaces', ATTR_NAMESPACE, false],
  ['notNamespaces', ATTR_NAMESPACE, true],
  ['ipBlocks', ATTR_SOURCE_IP, false],
  ['notIpBlocks', ATTR_SOURCE_IP, true],
  ['remoteIpBlocks', ATTR_REMOTE_IP, false],
  ['notRemoteIpBlocks', ATTR_REMOTE_IP, true],
];

const OPERATION_FIELDS: readonly (readonly [keyof AuthzOperation, number, boolean])[] = [
  ['ports', ATTR_PORT, false],
  ['notPorts', ATTR_PORT, true],
  ['methods', ATTR_METHOD, false],
  ['notMethods', ATTR_METHOD, true],
  ['paths', ATTR_PATH, false],
  ['notPaths', ATTR_PATH, true],
  ['hosts', ATTR_HOST, false],
  ['notHosts', ATTR_HOST, true],
];

const CONDITION_ATTRS: Readonly<Record<string, number>> = {
  'source.principal': ATTR_PRINCIPAL,
  'source.namespace': ATTR_NAMESPACE,
  'source.ip': ATTR_SOURCE_IP,
  'remote.ip': ATTR_REMOTE_IP,
  'destination.ip': ATTR_DESTINATION_IP,
  'destination.port': ATTR_PORT,
  'connection.sni': ATTR_SNI,
};

const HEADER_KEY = /^request\.headers\[(.+)\]$/;

function isL7(attr: number): boolean {
  return attr >= ATTR_METHOD;
}

/** True when the rule has an L7 field (for status and `policy check`). */
export function ruleHasL7(rule: AuthzRule): boolean {
  for (const to of rule.to ?? []) {
    const op = to.operation;
    if (op.methods !== undefined || op.notMethods !== undefined || op.paths !== undefined) return true;
    if (op.notPaths !== undefined || op.hosts !== undefined || op.notHosts !== undefined) return true;
  }
  return (rule.when ?? []).some((c) => c.key.startsWith('request.'));
}

function check(policy: string, attr: number, negate: boolean, values: readonly string[], field: string, header = '', key = ''): FieldCheck {
  let strings: StringMatcher | PathMatcher | null = null;
  let ips: IpBlocks | null = null;
  let ports: Set<number> | null = null;
  if (attr === ATTR_SOURCE_IP || attr === ATTR_REMOTE_IP || attr === ATTR_DESTINATION_IP) {
    try {
      ips = new IpBlocks(values);
    } catch (err) {
      if (!(err instanceof BadIpBlockError)) throw err;
      throw new MeshletError('MESHLET_ERR_OBJECT_INVALID', `AuthorizationPolicy ${policy}: ${field}: ${err.message}`);
    }
  } else if (attr === ATTR_PORT) {
    ports = new Set(values.map(Number));
  } else if (attr === ATTR_PATH) {
    strings = new PathMatcher(values);
  } else {
    strings = new StringMatcher(values, { ignoreCase: attr === ATTR_HOST, starMatchesEmpty: attr === ATTR_HOST || attr === ATTR_HEADER });
  }
  return new FieldCheck(attr, negate, isL7(attr), strings, ips, ports, header, field, values, key);
}

function compileFields<T extends object>(policy: string, entry: T, table: readonly (readonly [keyof T, number, boolean])[], at: string): FieldCheck[] {
  const out: FieldCheck[] = [];
  for (const [name, attr, negate] of table) {
    const values = entry[name] as readonly string[] | undefined;
    if (values !== undefined) out.push(check(policy, attr, negate, values, `${at}.${String(name)}`));
  }
  return out;
}

function compileCondition(policy: string, c: AuthzCondition, at: string): FieldCheck[] {
  const header = HEADER_KEY.exec(c.key)?.[1];
  const attr = header !== undefined ? ATTR_HEADER : CONDITION_ATTRS[c.key];
  if (attr === undefined) throw new MeshletError('MESHLET_ERR_OBJECT_INVALID', `AuthorizationPolicy ${policy}: ${at}: unsupported key ${JSON.stringify(c.key)}`);
  const out: FieldCheck[] = [];
  if (c.values !== undefined) out.push(check(policy, attr, false, c.values, at, header ?? '', c.key));
  if (c.notValues !== undefined) out.push(check(policy, attr, true, c.notValues, `${at}.notValues`, header ?? '', c.key));
  return out;
}

function compileRule(policy: string, rule: AuthzRule, index: number): CompiledRule {
  const at = `rules[${index}]`;
  const from = rule.from === undefined || rule.from.length === 0 ? null : rule.from.map((f, j) => compileFields(policy, f.source, SOURCE_FIELDS, `${at}.from[${j}].source`));
  const to = rule.to === undefined || rule.to.length === 0 ? null : rule.to.map((o, j) => compileFields(policy, o.operation, OPERATION_FIELDS, `${at}.to[${j}].operation`));
  const when = rule.when === undefined || rule.when.length === 0 ? null : rule.when.flatMap((c, j) => compileCondition(policy, c, `${at}.when[${j}]`));
  return new CompiledRule(index, from, to, when, ruleHasL7(rule));
}

const compiled = new WeakMap<AuthorizationPolicyData, CompiledPolicy>();

/**
 * The policy's rules compiled (cached per policy object). Throws MeshletError
 * MESHLET_ERR_OBJECT_INVALID for a value validation should have refused (a bad CIDR, an unknown
 * condition key): never skipped, since a skipped field would change who gets in.
 */
export function compilePolicy(policy: AuthorizationPolicyData): CompiledPolicy {
  let c = compiled.get(policy);
  if (c === undefined) {
    const rules = policy.rules.map((r, i) => compileRule(policy.key, r, i));
    c = { key: policy.key, rules, l7: rules.some((r) => r.l7) };
    compiled.set(policy, c);
  }
  return c;
}
