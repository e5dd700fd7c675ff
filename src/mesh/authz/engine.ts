/**
 * The AuthorizationPolicy engine: Istio's evaluation over the policies that select one workload
 * (`select.ts`), compiled once per workload per snapshot and run by the agent on every inbound
 * connection and HTTP request, and by `meshlet policy explain` (`explain()`, field by field).
 *
 * Order (Istio's): a matching DENY rule denies; else, with no ALLOW policy for the workload (on
 * the destination port), allowed; else a matching ALLOW rule allows; else denied. AUDIT rules
 * never decide: every AUDIT policy that matches is listed in `audits` (its first matching rule).
 * How L7 fields (methods, paths, hosts, `request.*`) count on a connection is {@link AuthzMode}.
 *
 * `connection-http`'s `deferred` is exact, not a guess: true when some request of the
 * connection could be judged otherwise than the connection, that is when the connection is in
 * and a DENY rule with L7 fields matches its L4 part, or only an ALLOW rule with L7 fields let
 * it in, or an AUDIT policy that did not match has an L7 rule whose L4 part matches (its
 * requests are logged one by one). Every attribute but `request` is the connection's, the same
 * for each of its requests.
 *
 * Hot path: no closure, no per-call allocation when no policy selects the workload, one shared
 * context, and a shared frozen verdict unless an AUDIT rule matched.
 */
import { compilePolicy, SLOT_PARTIAL, type BoundPolicy, type CompiledRule, type FieldCheck } from './compile.js';
import { AuthzContext } from './context.js';
import { explainAuthz } from './explain.js';
import type { SelectedPolicy } from './select.js';
import type { AuthzAttributes, AuthzExplanation, AuthzMode, AuthzRuleRef, AuthzVerdict } from './types.js';
import {
  ALLOW_NO_POLICY,
  ALLOW_NO_POLICY_HTTP,
  decided,
  NO_AUDITS,
  noAllowMatched,
  REASON_NO_ALLOW_ON_PORT,
  REASON_NO_ALLOW_POLICY,
  slotOf,
  undecidedVerdict,
} from './verdicts.js';

export { ruleHasL7 } from './compile.js';

/** The one context evaluations reuse (evaluation is synchronous: never two at once). */
const shared = new AuthzContext();

/** True when every check of `checks` holds (`l4only`: L7 checks are skipped, as if absent). */
function allHold(checks: readonly FieldCheck[], ctx: AuthzContext, l4only: boolean): boolean {
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i] as FieldCheck;
    if (l4only && c.l7) continue;
    if (!ctx.matches(c)) return false;
  }
  return true;
}

/** True when some entry holds (null: absent, matches anything). */
function anyHolds(entries: readonly (readonly FieldCheck[])[] | null, ctx: AuthzContext, l4only: boolean): boolean {
  if (entries === null) return true;
  for (let i = 0; i < entries.length; i++) if (allHold(entries[i] as readonly FieldCheck[], ctx, l4only)) return true;
  return false;
}

/** True when the rule matches: any `from`, any `to`, every `when` (`l4only`: L7 fields dropped). */
export function ruleMatches(r: CompiledRule, ctx: AuthzContext, l4only: boolean): boolean {
  return anyHolds(r.from, ctx, l4only) && anyHolds(r.to, ctx, l4only) && (r.when === null || allHold(r.when, ctx, l4only));
}

function applies(b: BoundPolicy, port: number): boolean {
  return b.ports === null || b.ports.has(port);
}

/** The AuthorizationPolicies of one workload, compiled: evaluate and explain. */
export class WorkloadAuthz {
  /** No policy: `evaluate()` allows at once. */
  static readonly NONE: WorkloadAuthz = new WorkloadAuthz([]);

  /** Compiles `selected` (as {@link selectPolicies} orders them); every matcher is built once. */
  static compile(selected: readonly SelectedPolicy[]): WorkloadAuthz {
    return selected.length === 0 ? WorkloadAuthz.NONE : new WorkloadAuthz(selected);
  }

  readonly policies: readonly SelectedPolicy[];
  /** No policy selects the workload. */
  readonly empty: boolean;
  /** Some rule of some policy has an L7 field. */
  readonly hasL7: boolean;
  /** Some rule of some policy has a `connection.sni` condition: the ClientHello must be read. */
  readonly usesSni: boolean;
  private readonly bound: readonly BoundPolicy[];
  private readonly deny: readonly BoundPolicy[];
  private readonly allow: readonly BoundPolicy[];
  private readonly audit: readonly BoundPolicy[];
  /** Why allowed when no ALLOW policy applies: none at all, or none on this port. */
  private readonly noAllowReason: string;
  /** Verdicts made by this workload's evaluations without audits, by slot and count. */
  private readonly noAllowVerdicts: (AuthzVerdict | undefined)[] = [undefined, undefined, undefined];
  private readonly deniedVerdicts = new Map<number, AuthzVerdict>();

  private constructor(selected: readonly SelectedPolicy[]) {
    this.policies = selected;
    this.empty = selected.length === 0;
    this.bound = selected.map((s): BoundPolicy => ({ selected: s, key: s.policy.key, action: s.policy.action, compiled: compilePolicy(s.policy), ports: s.ports ?? null }));
    this.deny = this.bound.filter((b) => b.action === 'DENY');
    this.allow = this.bound.filter((b) => b.action === 'ALLOW');
    this.audit = this.bound.filter((b) => b.action === 'AUDIT');
    this.hasL7 = this.bound.some((b) => b.compiled.l7);
    this.usesSni = selected.some((s) => s.policy.rules.some((r) => r.when?.some((c) => c.key === 'connection.sni') === true));
    this.noAllowReason = noAllowReason(this.allow);
  }

  /** The decision for `attrs` in `mode` (the hot path: no trace). */
  evaluate(attrs: AuthzAttributes, mode: AuthzMode): AuthzVerdict {
    if (this.empty) return mode === 'connection-http' ? ALLOW_NO_POLICY_HTTP : ALLOW_NO_POLICY;
    const ctx = shared.reset(attrs);
    const http = mode === 'connection-http';
    // `request` without the request's attributes knows no L7 field: fail closed as opaque.
    const opaque = mode === 'connection-opaque' || (mode === 'request' && attrs.request === undefined);
    const port = attrs.destinationPort;
    let pending = false;
    let denyPolicy: BoundPolicy | undefined;
    let denyRule: CompiledRule | undefined;
    deny: for (const b of this.deny) {
      if (!applies(b, port)) continue;
      for (const r of b.compiled.rules) {
        if (http && r.l7) {
          if (!pending && ruleMatches(r, ctx, true)) pending = true;
        } else if (ruleMatches(r, ctx, opaque)) {
          denyPolicy = b;
          denyRule = r;
          break deny;
        }
      }
    }
    let audits: AuthzRuleRef[] | undefined;
    for (const b of this.audit) {
      if (!applies(b, port)) continue;
      const found = this.auditMatch(b, ctx, http, opaque);
      if (found === true) pending = true;
      else if (found !== undefined) (audits ??= []).push({ policy: b.key, rule: found.index });
    }
    const audited = audits ?? NO_AUDITS;
    if (denyPolicy !== undefined && denyRule !== undefined) return decided(denyPolicy.key, 'DENY', denyRule, slotOf(mode, false), audited);
    return this.allowStage(ctx, mode, http, opaque, pending, audited);
  }

  /**
   * An AUDIT policy's first matching rule; `true` when none matched and, on an HTTP connection,
   * an L7 rule's L4 part matches (its requests are checked); undefined otherwise.
   */
  private auditMatch(b: BoundPolicy, ctx: AuthzContext, http: boolean, opaque: boolean): CompiledRule | true | undefined {
    let candidate = false;
    for (const r of b.compiled.rules) {
      if (http && r.l7) {
        if (!candidate && ruleMatches(r, ctx, true)) candidate = true;
      } else if (ruleMatches(r, ctx, opaque)) {
        return r;
      }
    }
    return candidate ? true : undefined;
  }

  private allowStage(ctx: AuthzContext, mode: AuthzMode, http: boolean, opaque: boolean, pending: boolean, audits: readonly AuthzRuleRef[]): AuthzVerdict {
    const port = ctx.attrs.destinationPort;
    let applicable = 0;
    let partialPolicy: BoundPolicy | undefined;
    let partialRule: CompiledRule | undefined;
    for (const b of this.allow) {
      if (!applies(b, port)) continue;
      applicable++;
      for (const r of b.compiled.rules) {
        if (r.l7 && (opaque || http)) {
          // Opaque: an ALLOW rule with an L7 field never matches. HTTP: its L4 part may let the connection in.
          if (http && partialRule === undefined && ruleMatches(r, ctx, true)) {
            partialPolicy = b;
            partialRule = r;
          }
        } else if (ruleMatches(r, ctx, false)) {
          return decided(b.key, 'ALLOW', r, slotOf(mode, pending), audits);
        }
      }
    }
    if (partialPolicy !== undefined && partialRule !== undefined) return decided(partialPolicy.key, 'ALLOW', partialRule, SLOT_PARTIAL, audits);
    if (applicable === 0) {
      const slot = slotOf(mode, pending);
      if (audits.length > 0) return undecidedVerdict(true, this.noAllowReason, slot, audits);
      return (this.noAllowVerdicts[slot] ??= undecidedVerdict(true, this.noAllowReason, slot, NO_AUDITS));
    }
    const slot = slotOf(mode, false);
    if (audits.length > 0) return undecidedVerdict(false, noAllowMatched(applicable), slot, audits);
    const key = applicable * 4 + slot;
    let v = this.deniedVerdicts.get(key);
    if (v === undefined) this.deniedVerdicts.set(key, (v = undecidedVerdict(false, noAllowMatched(applicable), slot, NO_AUDITS)));
    return v;
  }

  /** Every selected policy, rule and field for `attrs` in `mode`; its verdict is `evaluate()`'s. */
  explain(attrs: AuthzAttributes, mode: AuthzMode): AuthzExplanation {
    return explainAuthz(this.bound, this.noAllowReason, attrs, mode);
  }
}

/** Why a connection is allowed when no ALLOW policy applies to it. */
function noAllowReason(allow: readonly BoundPolicy[]): string {
  return allow.length === 0 ? REASON_NO_ALLOW_POLICY : REASON_NO_ALLOW_ON_PORT;
}
