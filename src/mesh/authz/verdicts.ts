/**
 * The verdicts evaluation returns, made in one place so `evaluate` and `explain` say the same
 * words: frozen, and shared whenever no AUDIT rule matched (a rule's verdict is made once and
 * kept on the compiled rule; the engine keeps the others per workload).
 */
import { SLOT_DEFERRED, SLOT_FINAL, SLOT_PARTIAL, SLOT_PLAIN, type CompiledRule, type VerdictSlot } from './compile.js';
import type { AuthzMode, AuthzRuleRef, AuthzVerdict } from './types.js';

export const NO_AUDITS: readonly AuthzRuleRef[] = Object.freeze([]);

export const REASON_NO_POLICY = 'no policy selects the workload';
export const REASON_NO_ALLOW_POLICY = 'no ALLOW policy selects the workload';
export const REASON_NO_ALLOW_ON_PORT = 'no ALLOW policy applies to the destination port';

function freeze(v: AuthzVerdict): AuthzVerdict {
  return Object.freeze(v);
}

/** The slot of a verdict in `mode` (connection-http: final or deferred). */
export function slotOf(mode: AuthzMode, deferred: boolean): VerdictSlot {
  return mode === 'connection-http' ? (deferred ? SLOT_DEFERRED : SLOT_FINAL) : SLOT_PLAIN;
}

function withDeferred(v: AuthzVerdict, slot: VerdictSlot): AuthzVerdict {
  return slot === SLOT_PLAIN ? v : { ...v, deferred: slot !== SLOT_FINAL };
}

function ruleVerdict(policy: string, action: 'ALLOW' | 'DENY', rule: CompiledRule, slot: VerdictSlot): AuthzVerdict {
  const base: AuthzVerdict = {
    allowed: action === 'ALLOW',
    decidedBy: Object.freeze({ policy, rule: rule.index, action }),
    reason: slot === SLOT_PARTIAL ? `ALLOW ${policy} rule ${rule.index} (on its L4 fields; its L7 fields are checked on each request)` : `${action} ${policy} rule ${rule.index}`,
    audits: NO_AUDITS,
  };
  return withDeferred(base, slot);
}

/** The verdict of a rule that decided, with `audits` (shared and frozen when there are none). */
export function decided(policy: string, action: 'ALLOW' | 'DENY', rule: CompiledRule, slot: VerdictSlot, audits: readonly AuthzRuleRef[]): AuthzVerdict {
  if (audits.length > 0) return freeze({ ...ruleVerdict(policy, action, rule, slot), audits: Object.freeze(audits) });
  let v = rule.verdicts[slot];
  if (v === undefined) rule.verdicts[slot] = v = freeze(ruleVerdict(policy, action, rule, slot));
  return v;
}

/** A verdict no rule decided (allowed for want of ALLOW policies, or denied for want of a match). */
export function undecidedVerdict(allowed: boolean, reason: string, slot: VerdictSlot, audits: readonly AuthzRuleRef[]): AuthzVerdict {
  return freeze({ ...withDeferred({ allowed, reason, audits: NO_AUDITS }, slot), audits: audits.length === 0 ? NO_AUDITS : Object.freeze(audits) });
}

/** The verdict when no policy selects the workload. */
export const ALLOW_NO_POLICY = undecidedVerdict(true, REASON_NO_POLICY, SLOT_PLAIN, NO_AUDITS);
export const ALLOW_NO_POLICY_HTTP = undecidedVerdict(true, REASON_NO_POLICY, SLOT_FINAL, NO_AUDITS);

/** The denial when ALLOW policies select the workload and none matched. */
export function noAllowMatched(count: number): string {
  return `no ALLOW policy matched (${count} select${count === 1 ? 's' : ''} the workload)`;
}
