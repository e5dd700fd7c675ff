/**
 * `meshlet policy check`'s lints, pure: what a set of AuthorizationPolicies does that its
 * author probably did not mean, found against the mesh they were written for. Selection is the
 * engine's own (`authz/select.ts`), so "selects nothing" means what the agents will do.
 *
 * Errors (exit 1): a policy that selects no meshed workload, a targetRef to a missing Service,
 * a principal in another trust domain, a rule that can never match, L7 fields on a port the
 * rule names that is declared opaque. Warnings: a principal or namespace with no workload, an
 * entry or value that can never match, shadowed rules, an ALLOW policy whose every workload a
 * DENY rule matching everything covers, a policy with no rules, L7 fields reaching opaque or
 * undeclared ports.
 */
import { selectPolicies, type SelectedPolicy } from '../mesh/authz/select.js';
import type { AuthorizationPolicyData } from '../mesh/authz/types.js';
import type { AuthorizationPolicyObject, ServiceInfo, WorkloadInfo } from '../mesh/types.js';
import { l7OnOpaquePorts, matchesEverything, neverMatching, shadowedRules, type RuleFinding } from './policy-lint-rules.js';

export type { FindingSeverity } from './policy-lint-rules.js';

/** One finding, located. */
export interface PolicyFinding extends RuleFinding {
  readonly file: string;
  /** `namespace/name`. */
  readonly policy: string;
  readonly apiVersion: string;
}

/** What the lints look at. */
export interface LintInput {
  readonly policies: readonly AuthorizationPolicyObject[];
  /** Meshed workloads. */
  readonly workloads: readonly WorkloadInfo[];
  readonly services: readonly ServiceInfo[];
  readonly trustDomain: string;
}

/** A policy's identity among policies of two apiVersions with one name. */
function policyId(p: AuthorizationPolicyData): string {
  return `${p.key} ${p.apiVersion}`;
}

/** Every finding, in file order then policy order. */
export function lintPolicies(input: LintInput): PolicyFinding[] {
  const selections = selectionsByPolicy(input);
  const denyAll = denyEverything(input.policies, selections);
  const out: PolicyFinding[] = [];
  for (const o of input.policies) {
    const p = o.policy;
    const sel = selections.get(policyId(p)) ?? [];
    const findings: RuleFinding[] = [
      ...selectionFindings(p, sel, input),
      ...emptyRules(p),
      ...principalFindings(p, input),
      ...neverMatching(p),
      ...shadowedRules(p),
      ...deniedAnyway(p, sel, denyAll),
      ...l7OnOpaquePorts(p, sel, input.services),
    ];
    for (const f of findings) out.push({ file: o.source.file, policy: p.key, apiVersion: p.apiVersion, ...f });
  }
  return out;
}

/** `file: namespace/name: field: severity: message`. */
export function formatFinding(f: PolicyFinding): string {
  return `${f.file}: ${f.policy}: ${f.field === '' ? '' : `${f.field}: `}${f.severity}: ${f.message}`;
}

type Selections = Map<string, Array<{ workload: string; selected: SelectedPolicy }>>;

/** For each policy, the meshed workloads it selects (and on which ports, for a targetRef). */
function selectionsByPolicy(input: LintInput): Selections {
  const all = input.policies.map((o) => o.policy);
  const out: Selections = new Map();
  for (const w of input.workloads) {
    for (const s of selectPolicies(all, w, input.services)) {
      const id = policyId(s.policy);
      const list = out.get(id) ?? [];
      list.push({ workload: w.uid, selected: s });
      out.set(id, list);
    }
  }
  return out;
}

function selectionFindings(p: AuthorizationPolicyData, sel: readonly unknown[], input: LintInput): RuleFinding[] {
  const out: RuleFinding[] = [];
  const keys = new Set(input.services.map((s) => s.key));
  for (const name of p.targetServices ?? []) {
    if (!keys.has(`${p.namespace}/${name}`)) out.push({ severity: 'error', field: 'spec.targetRefs', message: `Service ${p.namespace}/${name} does not exist (or has no cluster IP): the policy selects nothing through it` });
  }
  if (sel.length > 0) return out;
  const where = p.targetServices !== undefined ? 'the Services it targets have no meshed endpoint' : p.selector !== undefined
    ? `matchLabels ${JSON.stringify(p.selector)} match no meshed workload${input.workloads.some((w) => w.namespace === p.namespace) ? ` of namespace ${p.namespace}` : ` (namespace ${p.namespace} has none)`}`
    : `namespace ${p.namespace} has no meshed workload`;
  out.push({ severity: 'error', field: p.targetServices !== undefined ? 'spec.targetRefs' : p.selector !== undefined ? 'spec.selector' : '', message: `selects no meshed workload (${where}): it has no effect` });
  return out;
}

function emptyRules(p: AuthorizationPolicyData): RuleFinding[] {
  if (p.rules.length > 0) return [];
  const message = p.action === 'ALLOW'
    ? 'no rules: an ALLOW policy with no rules matches nothing, so it denies every request to the workloads it selects (meant only as a deny-all)'
    : `no rules: a ${p.action} policy with no rules matches nothing, so it has no effect`;
  return [{ severity: 'warning', field: 'spec.rules', message }];
}

/** A principal's trust domain, namespace and service account, where the pattern fixes them (no `*` in the segment). */
function principalParts(principal: string): { trustDomain?: string; namespace?: string; serviceAccount?: string } {
  const segments = principal.split('/');
  const fixed = (i: number): string | undefined => {
    const s = segments[i];
    return s === undefined || s === '' || s.includes('*') ? undefined : s;
  };
  const trustDomain = fixed(0);
  const namespace = segments[1] === 'ns' ? fixed(2) : undefined;
  const serviceAccount = segments[3] === 'sa' && segments.length === 5 ? fixed(4) : undefined;
  return { ...(trustDomain === undefined ? {} : { trustDomain }), ...(namespace === undefined ? {} : { namespace }), ...(serviceAccount === undefined ? {} : { serviceAccount }) };
}

/** Principals in another trust domain (error in a positive list, warning in a `not*` list); namespaces and service accounts with no workload (warning). */
function principalFindings(p: AuthorizationPolicyData, input: LintInput): RuleFinding[] {
  const out: RuleFinding[] = [];
  const namespaces = new Set(input.workloads.map((w) => w.namespace));
  const accounts = new Set(input.workloads.map((w) => `${w.namespace}/${w.serviceAccount}`));
  const principal = (value: string, field: string, positive: boolean): void => {
    const parts = principalParts(value);
    if (parts.trustDomain !== undefined && parts.trustDomain !== input.trustDomain) {
      out.push({ severity: positive ? 'error' : 'warning', field, message: `${JSON.stringify(value)}: trust domain ${parts.trustDomain} is not the mesh's (${input.trustDomain}): no peer of the mesh has it, ${positive ? 'so this value never matches' : 'so it excludes nothing'}` });
      return;
    }
    if (!positive || parts.namespace === undefined) return;
    if (!namespaces.has(parts.namespace)) out.push({ severity: 'warning', field, message: `${JSON.stringify(value)}: namespace ${parts.namespace} has no meshed workload` });
    else if (parts.serviceAccount !== undefined && !accounts.has(`${parts.namespace}/${parts.serviceAccount}`)) out.push({ severity: 'warning', field, message: `${JSON.stringify(value)}: no meshed workload of ${parts.namespace} runs as service account ${parts.serviceAccount}` });
  };
  const namespace = (value: string, field: string): void => {
    if (!value.includes('*') && !namespaces.has(value)) out.push({ severity: 'warning', field, message: `${JSON.stringify(value)}: namespace ${value} has no meshed workload` });
  };
  p.rules.forEach((rule, i) => {
    (rule.from ?? []).forEach((f, j) => {
      const at = `rules[${i}].from[${j}].source`;
      (f.source.principals ?? []).forEach((v, n) => principal(v, `${at}.principals[${n}]`, true));
      (f.source.notPrincipals ?? []).forEach((v, n) => principal(v, `${at}.notPrincipals[${n}]`, false));
      (f.source.namespaces ?? []).forEach((v, n) => namespace(v, `${at}.namespaces[${n}]`));
    });
    (rule.when ?? []).forEach((c, j) => {
      if (c.key === 'source.principal') {
        (c.values ?? []).forEach((v, n) => principal(v, `rules[${i}].when[${j}].values[${n}]`, true));
        (c.notValues ?? []).forEach((v, n) => principal(v, `rules[${i}].when[${j}].notValues[${n}]`, false));
      }
      if (c.key === 'source.namespace') (c.values ?? []).forEach((v, n) => namespace(v, `rules[${i}].when[${j}].values[${n}]`));
    });
  });
  return out;
}

/** For each workload, the DENY rules that match every request on it (with their port limits). */
type DenyAll = Map<string, Array<{ policy: string; rule: number; ports?: ReadonlySet<number> }>>;

function denyEverything(policies: readonly AuthorizationPolicyObject[], selections: Selections): DenyAll {
  const out: DenyAll = new Map();
  for (const { policy } of policies) {
    if (policy.action !== 'DENY') continue;
    const rule = policy.rules.findIndex(matchesEverything);
    if (rule < 0) continue;
    for (const { workload, selected } of selections.get(policyId(policy)) ?? []) {
      const list = out.get(workload) ?? [];
      list.push({ policy: policy.key, rule, ...(selected.ports === undefined ? {} : { ports: selected.ports }) });
      out.set(workload, list);
    }
  }
  return out;
}

/** An ALLOW policy every workload (and port) of which a DENY rule matching every request covers. */
function deniedAnyway(p: AuthorizationPolicyData, sel: ReadonlyArray<{ workload: string; selected: SelectedPolicy }>, denyAll: DenyAll): RuleFinding[] {
  if (p.action !== 'ALLOW' || sel.length === 0 || p.rules.length === 0) return [];
  const by = new Set<string>();
  for (const { workload, selected } of sel) {
    const cover = (denyAll.get(workload) ?? []).find((d) => d.ports === undefined || (selected.ports !== undefined && [...selected.ports].every((x) => d.ports?.has(x) === true)));
    if (cover === undefined) return [];
    by.add(`DENY ${cover.policy} rules[${cover.rule}]`);
  }
  return [{ severity: 'warning', field: 'spec.rules', message: `every workload it selects is denied every request by ${[...by].join(', ')} (a rule that matches everything): its rules are never reached` }];
}
