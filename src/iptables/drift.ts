/**
 * Drift detection: what the kernel's nat table holds of meshlet, compared with what meshlet
 * wants. Pure: the manager feeds it a parsed `iptables-save`.
 */
import { acceptedJump, meshletReferences } from './restore-plan.js';
import { HOOK_CHAIN, JUMP_RULE, type FamilyRuleSet } from './rule-builder.js';
import type { SavedTable } from './save-parser.js';

/** Drift of one family. Entries are `-A CHAIN ...` rule lines, or `:CHAIN` for a whole chain. */
export interface FamilyDrift {
  /** True when `missing` and `unexpected` are both empty. */
  readonly inSync: boolean;
  /** Wanted and not in the kernel (or not where it must be). */
  readonly missing: readonly string[];
  /** In the kernel and not wanted; jumps carry their place, e.g. `(PREROUTING rule 2, duplicate jump)`. */
  readonly unexpected: readonly string[];
}

/**
 * Larger differences are reported whole instead of minimally: the minimal diff costs
 * rows x columns memory, and 4M cells (16 MB) covers thousands of workloads.
 */
const MAX_DIFF_CELLS = 4_000_000;

/** Compares meshlet's chains and its PREROUTING jump in `saved` with `wanted`. */
export function diffFamily(wanted: FamilyRuleSet, saved: SavedTable): FamilyDrift {
  const missing: string[] = [];
  const unexpected: string[] = [];
  const declared = new Set(saved.chains);
  for (const chain of wanted.chains) {
    if (!declared.has(chain.name)) {
      missing.push(`:${chain.name}`, ...chain.rules);
      continue;
    }
    const actual = (saved.rules.get(chain.name) ?? []).map((r) => r.normalized);
    const diff = diffSequence(chain.rules, actual);
    missing.push(...diff.missing);
    unexpected.push(...diff.unexpected);
  }
  const accepted = acceptedJump(saved);
  if (accepted === undefined) missing.push(JUMP_RULE);
  for (const ref of meshletReferences(saved)) {
    if (ref === accepted) continue;
    let why = '';
    if (ref.chain === HOOK_CHAIN && ref.normalized === JUMP_RULE) {
      why = accepted === undefined ? ', must be rule 1' : ', duplicate jump';
    }
    unexpected.push(`${ref.normalized} (${ref.chain} rule ${ref.position}${why})`);
  }
  return { inSync: missing.length === 0 && unexpected.length === 0, missing, unexpected };
}

/**
 * The rules to add (`missing`) and to remove (`unexpected`) to turn `actual` into `wanted`,
 * order included: a longest-common-subsequence diff, like `diff`, so a rule moved out of place
 * shows up as both missing and unexpected.
 */
export function diffSequence(wanted: readonly string[], actual: readonly string[]): { missing: string[]; unexpected: string[] } {
  let start = 0;
  while (start < wanted.length && start < actual.length && wanted[start] === actual[start]) start += 1;
  let endW = wanted.length;
  let endA = actual.length;
  while (endW > start && endA > start && wanted[endW - 1] === actual[endA - 1]) {
    endW -= 1;
    endA -= 1;
  }
  const w = wanted.slice(start, endW);
  const a = actual.slice(start, endA);
  if (w.length === 0 || a.length === 0 || (w.length + 1) * (a.length + 1) > MAX_DIFF_CELLS) {
    return { missing: w, unexpected: a };
  }
  return lcsDiff(w, a);
}

function lcsDiff(w: readonly string[], a: readonly string[]): { missing: string[]; unexpected: string[] } {
  const cols = a.length + 1;
  // lcs[i * cols + j] = length of the LCS of w[i..] and a[j..].
  const lcs = new Uint32Array((w.length + 1) * cols);
  for (let i = w.length - 1; i >= 0; i -= 1) {
    for (let j = a.length - 1; j >= 0; j -= 1) {
      lcs[i * cols + j] =
        w[i] === a[j] ? (lcs[(i + 1) * cols + j + 1] ?? 0) + 1 : Math.max(lcs[(i + 1) * cols + j] ?? 0, lcs[i * cols + j + 1] ?? 0);
    }
  }
  const missing: string[] = [];
  const unexpected: string[] = [];
  let i = 0;
  let j = 0;
  while (i < w.length && j < a.length) {
    if (w[i] === a[j]) {
      i += 1;
      j += 1;
    } else if ((lcs[(i + 1) * cols + j] ?? 0) >= (lcs[i * cols + j + 1] ?? 0)) {
      missing.push(w[i] ?? '');
      i += 1;
    } else {
      unexpected.push(a[j] ?? '');
      j += 1;
    }
  }
  missing.push(...w.slice(i));
  unexpected.push(...a.slice(j));
  return { missing, unexpected };
}
