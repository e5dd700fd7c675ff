/**
 * `meshlet policy check`'s lints of one policy's rules, pure: a rule that can never match (a
 * value both in a field and its `not*` field), rules shadowed by an earlier rule of the same
 * policy (identical, or after a rule that matches every request), and L7 fields on workload
 * ports that are not HTTP (they fail closed there, see `AuthzMode`).
 */
import { canonicalJson } from '../controller/canonical-json.js';
import { ruleHasL7 } from '../mesh/authz/engine.js';
import { declaredPortProtocol } from '../mesh/authz/explain-resolve.js';
import type { SelectedPolicy } from '../mesh/authz/select.js';
import type { AuthorizationPolicyData, AuthzRule } from '../mesh/authz/types.js';
import type { ServiceInfo } from '../mesh/types.js';
import { canonicalAddress } from '../mesh/workload-address.js';

/** How bad a finding is: errors fail `policy check` (exit 1), warnings are printed only. */
export type FindingSeverity = 'error' | 'warning';

/** One finding about one field of one policy (the policy is filled in by the caller). */
export interface RuleFinding {
  readonly severity: FindingSeverity;
  /** Where: `rules[0].from[1].source.principals`, `spec.selector`, ... */
  readonly field: string;
  readonly message: string;
}

/** Workload ports named in one finding before "and N more". */
const MAX_PORTS_NAMED = 5;

/** How two values compare: Istio's `*`, `prefix*`, `*suffix` forms, or the exact value. */
type Compare = 'wildcard' | 'wildcard-nocase' | 'exact' | 'address' | 'port';

/** The `x` / `notX` pairs of a source and of an operation, with how their values compare. */
const SOURCE_PAIRS = [
  ['principals', 'notPrincipals', 'wildcard'],
  ['namespaces', 'notNamespaces', 'wildcard'],
  ['ipBlocks', 'notIpBlocks', 'address'],
  ['remoteIpBlocks', 'notRemoteIpBlocks', 'address'],
] as const;
const OPERATION_PAIRS = [
  ['ports', 'notPorts', 'port'],
  ['methods', 'notMethods', 'exact'],
  ['paths', 'notPaths', 'wildcard'],
  ['hosts', 'notHosts', 'wildcard-nocase'],
] as const;

/** True when every value `pattern` matches includes `value`'s (as far as the simple forms tell). */
export function covers(pattern: string, value: string, how: Compare): boolean {
  if (how === 'address') return pattern === value || (canonicalAddress(pattern) ?? pattern) === (canonicalAddress(value) ?? value);
  if (how === 'exact') return pattern === value;
  if (how === 'port') return Number(pattern) === Number(value);
  const p = how === 'wildcard-nocase' ? pattern.toLowerCase() : pattern;
  const v = how === 'wildcard-nocase' ? value.toLowerCase() : value;
  if (p === '*' || p === v) return true;
  if (p.length > 1 && p.endsWith('*')) return v.startsWith(p.slice(0, -1));
  if (p.length > 1 && p.startsWith('*')) return v.endsWith(p.slice(1));
  return false;
}

/** A field pair's overlap: the positive values every one of which a `not*` value covers. */
function overlap(values: readonly string[] | undefined, notValues: readonly string[] | undefined, how: Compare): { covered: string[]; all: boolean } {
  if (values === undefined || values.length === 0 || notValues === undefined || notValues.length === 0) return { covered: [], all: false };
  const covered = values.filter((v) => notValues.some((n) => covers(n, v, how)));
  return { covered, all: covered.length === values.length };
}

/** The pairs of one entry (a source, an operation, a condition) that can never match, and partial overlaps. */
function entryOverlaps(fields: Readonly<Record<string, readonly string[] | undefined>>, pairs: ReadonlyArray<readonly [string, string, Compare]>, path: string): { path: string; dead: string[]; partial: RuleFinding[] } {
  const dead: string[] = [];
  const partial: RuleFinding[] = [];
  for (const [x, notX, how] of pairs) {
    const o = overlap(fields[x], fields[notX], how);
    if (o.all) dead.push(`every value of ${x} is excluded by ${notX}`);
    else if (o.covered.length > 0) {
      partial.push({ severity: 'warning', field: `${path}.${x}`, message: `${o.covered.map((v) => JSON.stringify(v)).join(', ')} also excluded by ${notX}: ${o.covered.length === 1 ? 'that value' : 'those values'} can never match` });
    }
  }
  return { path, dead, partial };
}

/** Every rule that can never match (error), entries that can never match (warning), partial overlaps (warning). */
export function neverMatching(policy: AuthorizationPolicyData): RuleFinding[] {
  const out: RuleFinding[] = [];
  policy.rules.forEach((rule, i) => {
    const from = (rule.from ?? []).map((f, j) => entryOverlaps(f.source as Record<string, readonly string[] | undefined>, SOURCE_PAIRS, `from[${j}].source`));
    const to = (rule.to ?? []).map((t, j) => entryOverlaps(t.operation as Record<string, readonly string[] | undefined>, OPERATION_PAIRS, `to[${j}].operation`));
    const when = (rule.when ?? []).map((c, j) => entryOverlaps({ values: c.values, notValues: c.notValues }, [['values', 'notValues', c.key.endsWith('.ip') ? 'address' : 'wildcard']], `when[${j}]`));
    const reasons = (list: typeof from): string[] => list.flatMap((e) => e.dead.map((d) => `${e.path}: ${d}`));
    const deadReasons = [
      ...(from.length > 0 && from.every((e) => e.dead.length > 0) ? reasons(from) : []),
      ...(to.length > 0 && to.every((e) => e.dead.length > 0) ? reasons(to) : []),
      ...reasons(when),
    ];
    if (deadReasons.length > 0) out.push({ severity: 'error', field: `rules[${i}]`, message: `can never match: ${deadReasons.join('; ')}` });
    for (const e of [...from, ...to]) {
      // An entry that can never match while another entry of the list can: the rule lives, the entry is dead weight.
      if (deadReasons.length === 0 && e.dead.length > 0) out.push({ severity: 'warning', field: `rules[${i}].${e.path}`, message: `can never match (${e.dead.join('; ')}); the rule's other entries still can` });
    }
    for (const e of [...from, ...to, ...when]) for (const p of e.partial) out.push({ ...p, field: `rules[${i}].${p.field}` });
  });
  return out;
}

/** True for a rule that matches every request: no `when`, and `from` and `to` empty or with an empty entry. */
export function matchesEverything(rule: AuthzRule): boolean {
  const empty = (o: object): boolean => Object.values(o).every((v) => v === undefined || (Array.isArray(v) && v.length === 0));
  const fromAll = (rule.from ?? []).length === 0 || (rule.from ?? []).some((f) => empty(f.source));
  const toAll = (rule.to ?? []).length === 0 || (rule.to ?? []).some((t) => empty(t.operation));
  return fromAll && toAll && (rule.when ?? []).length === 0;
}

/** Rules identical to an earlier rule of the policy, or after one that matches every request. */
export function shadowedRules(policy: AuthorizationPolicyData): RuleFinding[] {
  const out: RuleFinding[] = [];
  const seen = new Map<string, number>();
  let everything: number | undefined;
  policy.rules.forEach((rule, i) => {
    const text = canonicalJson(rule);
    const twin = seen.get(text);
    if (twin !== undefined) out.push({ severity: 'warning', field: `rules[${i}]`, message: `identical to rules[${twin}]: it never decides anything` });
    else if (everything !== undefined) out.push({ severity: 'warning', field: `rules[${i}]`, message: `shadowed by rules[${everything}], which matches every request: it never decides anything` });
    if (twin === undefined) seen.set(text, i);
    if (everything === undefined && matchesEverything(rule)) everything = i;
  });
  return out;
}

/** The ports a rule is limited to by its `to` entries, or undefined when some entry (or none) leaves every port. */
function rulePorts(rule: AuthzRule): Set<number> | undefined {
  const to = rule.to ?? [];
  if (to.length === 0 || to.some((t) => (t.operation.ports ?? []).length === 0)) return undefined;
  return new Set(to.flatMap((t) => (t.operation.ports ?? []).map(Number)));
}

/** Every workload port a Service reaches on `uid`. */
function servicePortsOf(uid: string, services: readonly ServiceInfo[]): Set<number> {
  const ports = new Set<number>();
  for (const s of services) for (const e of s.endpoints) if (e.workload === uid) for (const p of Object.values(e.targetPorts)) ports.add(p);
  return ports;
}

/**
 * L7 fields on workload ports no Service declares HTTP. A port the rule names (`to.operation.ports`)
 * that is declared opaque is an error (the rule was written for it and fails closed there); one
 * that declares nothing is a warning (L7 fields work only when the traffic is detected as HTTP);
 * an opaque port the rule reaches without naming it is a warning.
 */
export function l7OnOpaquePorts(policy: AuthorizationPolicyData, selections: readonly { readonly workload: string; readonly selected: SelectedPolicy }[], services: readonly ServiceInfo[]): RuleFinding[] {
  const out: RuleFinding[] = [];
  const effect = policy.action === 'ALLOW' ? 'an ALLOW rule with L7 fields never matches there' : `the ${policy.action} rule matches there on its other fields only (wider than written)`;
  policy.rules.forEach((rule, i) => {
    if (!ruleHasL7(rule)) return;
    const named = rulePorts(rule);
    const opaqueNamed: string[] = [];
    const undeclaredNamed: string[] = [];
    const opaqueReached: string[] = [];
    for (const { workload, selected } of selections) {
      const candidates = named ?? servicePortsOf(workload, services);
      for (const port of [...candidates].sort((a, b) => a - b)) {
        if (selected.ports !== undefined && !selected.ports.has(port)) continue;
        const protocol = declaredPortProtocol(workload, port, services);
        if (protocol === 'tcp') (named === undefined ? opaqueReached : opaqueNamed).push(`${workload} port ${port}`);
        else if (protocol === 'detect' && named !== undefined) undeclaredNamed.push(`${workload} port ${port}`);
      }
    }
    const list = (ports: string[]): string => `${ports.slice(0, MAX_PORTS_NAMED).join(', ')}${ports.length > MAX_PORTS_NAMED ? ` and ${ports.length - MAX_PORTS_NAMED} more` : ''}`;
    if (opaqueNamed.length > 0) out.push({ severity: 'error', field: `rules[${i}]`, message: `L7 fields on ports declared opaque (${list(opaqueNamed)}): requests are never parsed there, the L7 fields fail closed: ${effect}` });
    if (undeclaredNamed.length > 0) out.push({ severity: 'warning', field: `rules[${i}]`, message: `L7 fields on ports no Service declares HTTP (${list(undeclaredNamed)}): they apply only when the traffic is detected as HTTP, else they fail closed (declare appProtocol: http)` });
    if (opaqueReached.length > 0) out.push({ severity: 'warning', field: `rules[${i}]`, message: `L7 fields, and the workloads are also reached on opaque ports (${list(opaqueReached)}): there they fail closed: ${effect}` });
  });
  return out;
}
