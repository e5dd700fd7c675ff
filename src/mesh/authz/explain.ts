/**
 * `explain()`: the engine's evaluation written out field by field, for `meshlet policy explain`
 * and the admin API. It evaluates every field of every rule of every selected policy (no
 * short-cut), then derives the verdict from those traces with the engine's order, so it can be
 * checked against `evaluate()` (the tests do, on generated policies and traffic). Not on the data
 * path: it allocates freely.
 */
import { SLOT_PARTIAL, type BoundPolicy, type CompiledRule, type FieldCheck } from './compile.js';
import { AuthzContext } from './context.js';
import type { AuthzAttributes, AuthzExplanation, AuthzFieldTrace, AuthzMode, AuthzPolicyTrace, AuthzRuleRef, AuthzRuleTrace, AuthzVerdict } from './types.js';
import { ALLOW_NO_POLICY, ALLOW_NO_POLICY_HTTP, decided, noAllowMatched, slotOf, undecidedVerdict } from './verdicts.js';

const OPAQUE_ALLOW_NOTE = 'L7 field on a connection that is not HTTP: fails closed';
const OPAQUE_OTHER_NOTE = 'L7 field on a connection that is not HTTP: dropped, the rule is matched on its other fields';
const HTTP_NOTE = 'L7 field: checked on each request of the connection';

/** A rule's trace, and what the verdict needs of it. */
interface RuleResult {
  readonly trace: AuthzRuleTrace;
  readonly rule: CompiledRule;
  /** Its fields but the L7 ones hold. */
  readonly l4: boolean;
}

interface PolicyResult {
  readonly bound: BoundPolicy;
  readonly applies: boolean;
  readonly rules: readonly RuleResult[];
  /** The first rule that matched (as the mode counts a match). */
  readonly matched?: RuleResult;
}

function fieldNote(c: FieldCheck, ctx: AuthzContext, actual: string | undefined, unknownNote: string | undefined): string | undefined {
  const notes: string[] = [];
  if (c.key !== '') notes.push(c.key);
  if (unknownNote !== undefined) notes.push(unknownNote);
  else if (actual === undefined) {
    if (c.attr <= 1) notes.push(ctx.attrs.sourcePrincipal === undefined ? 'no identity (plaintext)' : 'the identity names no namespace');
    else if (c.header !== '') notes.push('no such header');
    else notes.push('not known');
  }
  return notes.length === 0 ? undefined : notes.join('; ');
}

/** One field traced; `unknownNote` set: an L7 field the mode cannot know. */
function traceField(c: FieldCheck, ctx: AuthzContext, unknownNote: string | undefined): AuthzFieldTrace {
  const actual = ctx.actual(c);
  const note = fieldNote(c, ctx, actual, unknownNote);
  return {
    field: c.field,
    values: c.values,
    ...(actual === undefined ? {} : { actual }),
    matched: unknownNote !== undefined ? 'unknown' : ctx.matches(c),
    ...(note === undefined ? {} : { note }),
  };
}

/** The note for an L7 field in `mode`, or undefined when the mode knows L7 fields. */
function unknownNoteOf(opaque: boolean, http: boolean, action: string): string | undefined {
  if (opaque) return action === 'ALLOW' ? OPAQUE_ALLOW_NOTE : OPAQUE_OTHER_NOTE;
  return http ? HTTP_NOTE : undefined;
}

function traceRule(r: CompiledRule, action: string, ctx: AuthzContext, opaque: boolean, http: boolean): RuleResult {
  const unknown = unknownNoteOf(opaque, http, action);
  const fields: AuthzFieldTrace[] = [];
  /** Traces the checks of one entry; true when all hold, L7 ones counted as holding when unknown. */
  const entry = (checks: readonly FieldCheck[]): boolean => {
    let ok = true;
    for (const c of checks) {
      const f = traceField(c, ctx, c.l7 ? unknown : undefined);
      fields.push(f);
      if (f.matched === false) ok = false;
    }
    return ok;
  };
  const entries = (list: readonly (readonly FieldCheck[])[] | null): boolean => (list === null ? true : list.map(entry).some((ok) => ok));
  const from = entries(r.from);
  const to = entries(r.to);
  const when = r.when === null ? true : entry(r.when);
  const l4 = from && to && when;
  // What counts as a match: ALLOW with L7 fields never on opaque; DENY/AUDIT with L7 fields not at connection level on HTTP.
  const matched = !r.l7 || (!opaque && !http) ? l4 : opaque ? action !== 'ALLOW' && l4 : action === 'ALLOW' && l4;
  return { trace: { index: r.index, matched, fields }, rule: r, l4 };
}

function tracePolicy(b: BoundPolicy, ctx: AuthzContext, opaque: boolean, http: boolean): PolicyResult {
  const port = ctx.attrs.destinationPort;
  if (b.ports !== null && !b.ports.has(port)) return { bound: b, applies: false, rules: [] };
  const rules = b.compiled.rules.map((r) => traceRule(r, b.action, ctx, opaque, http));
  // The engine's pick: on HTTP, an ALLOW rule without L7 fields before one with (it makes the verdict final).
  const full = rules.find((r) => r.trace.matched && !(http && r.rule.l7));
  const matched = full ?? rules.find((r) => r.trace.matched);
  return { bound: b, applies: true, rules, ...(matched === undefined ? {} : { matched }) };
}

function policyTrace(p: PolicyResult): AuthzPolicyTrace {
  const s = p.bound.selected;
  const ports = [...(p.bound.ports ?? [])].sort((a, b) => a - b).join(', ');
  let note: string | undefined;
  if (!p.applies) note = `targetRef: only port${p.bound.ports?.size === 1 ? '' : 's'} ${ports}: not applied to this destination port`;
  else if (p.bound.compiled.rules.length === 0) note = 'no rules: matches nothing';
  else if (p.bound.ports !== null) note = `targetRef: only port${p.bound.ports.size === 1 ? '' : 's'} ${ports}`;
  return {
    policy: s.policy.key,
    apiVersion: s.policy.apiVersion,
    action: s.policy.action,
    selectedBy: s.selectedBy,
    matched: p.matched !== undefined,
    ...(p.matched === undefined ? {} : { matchedRule: p.matched.rule.index }),
    rules: p.rules.map((r) => r.trace),
    ...(note === undefined ? {} : { note }),
  };
}

/** The verdict from the traces, in the engine's order (see `engine.ts`). */
function verdictOf(results: readonly PolicyResult[], noAllowReason: string, mode: AuthzMode, http: boolean): AuthzVerdict {
  const applying = results.filter((p) => p.applies);
  const ofAction = (a: string): PolicyResult[] => applying.filter((p) => p.bound.action === a);
  const audits: AuthzRuleRef[] = ofAction('AUDIT').flatMap((p) => (p.matched === undefined ? [] : [{ policy: p.bound.key, rule: p.matched.rule.index }]));
  const deny = ofAction('DENY').find((p) => p.matched !== undefined);
  if (deny?.matched !== undefined) return decided(deny.bound.key, 'DENY', deny.matched.rule, slotOf(mode, false), audits);
  const l7Pending = (p: PolicyResult): boolean => p.rules.some((r) => r.rule.l7 && r.l4);
  const pending = http && (ofAction('DENY').some(l7Pending) || ofAction('AUDIT').some((p) => p.matched === undefined && l7Pending(p)));
  const allow = ofAction('ALLOW');
  const full = allow.find((p) => p.matched !== undefined && !(http && p.matched.rule.l7));
  if (full?.matched !== undefined) return decided(full.bound.key, 'ALLOW', full.matched.rule, slotOf(mode, pending), audits);
  const partial = allow.find((p) => p.matched !== undefined);
  if (partial?.matched !== undefined) return decided(partial.bound.key, 'ALLOW', partial.matched.rule, SLOT_PARTIAL, audits);
  if (allow.length === 0) return undecidedVerdict(true, noAllowReason, slotOf(mode, pending), audits);
  return undecidedVerdict(false, noAllowMatched(allow.length), slotOf(mode, false), audits);
}

/** The explanation of `attrs` in `mode` over a workload's bound policies (in evaluation order). */
export function explainAuthz(bound: readonly BoundPolicy[], noAllowReason: string, attrs: AuthzAttributes, mode: AuthzMode): AuthzExplanation {
  if (bound.length === 0) return { verdict: mode === 'connection-http' ? ALLOW_NO_POLICY_HTTP : ALLOW_NO_POLICY, mode, policies: [] };
  const ctx = new AuthzContext().reset(attrs);
  const http = mode === 'connection-http';
  const opaque = mode === 'connection-opaque' || (mode === 'request' && attrs.request === undefined);
  const results = bound.map((b) => tracePolicy(b, ctx, opaque, http));
  return { verdict: verdictOf(results, noAllowReason, mode, http), mode, policies: results.map(policyTrace) };
}
