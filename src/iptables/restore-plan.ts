/**
 * Turns what the kernel holds (a parsed `iptables-save`) into the restore input that moves it
 * where meshlet wants: the jump repairs of `apply`, the removal of `clean`, and the rollback
 * that undoes an `apply` when another family's restore failed. Pure: no I/O.
 */
import { HOOK_CHAIN, JUMP_RULE, JUMP_SPEC, MESHLET_CHAINS, type JumpEdits } from './rule-builder.js';
import type { SavedRule, SavedTable } from './save-parser.js';

const OWN_CHAINS: ReadonlySet<string> = new Set(MESHLET_CHAINS);

/**
 * Every rule outside meshlet's chains that jumps or goes to one of them, in save order. In a
 * healthy table that is exactly one rule: the PREROUTING jump.
 */
export function meshletReferences(saved: SavedTable): SavedRule[] {
  const refs: SavedRule[] = [];
  for (const [chain, rules] of saved.rules) {
    if (OWN_CHAINS.has(chain)) continue;
    for (const rule of rules) if (rule.target !== undefined && OWN_CHAINS.has(rule.target)) refs.push(rule);
  }
  return refs;
}

/** The PREROUTING jump when it is right: first in PREROUTING, with meshlet's match. */
export function acceptedJump(saved: SavedTable): SavedRule | undefined {
  const first = saved.rules.get(HOOK_CHAIN)?.[0];
  return first?.normalized === JUMP_RULE ? first : undefined;
}

/**
 * What `apply` must do about the jump. Nothing when the one right jump is in place; otherwise
 * delete every reference (duplicates, misplaced or hand-made jumps) and insert the right one,
 * all in the same restore. Deleting every copy, not all but one, matters: `-D` removes the
 * first matching rule, which would be the well-placed one.
 */
export function jumpEdits(saved: SavedTable): JumpEdits {
  const refs = meshletReferences(saved);
  const accepted = acceptedJump(saved);
  if (refs.length === 1 && accepted !== undefined && refs[0] === accepted) return { deletes: [], insertJump: false };
  return { deletes: refs.map((r) => `-D ${r.chain} ${r.spec}`), insertJump: true };
}

/** meshlet's chains that exist in `saved`, in {@link MESHLET_CHAINS} order. */
export function existingMeshletChains(saved: SavedTable): string[] {
  const declared = new Set(saved.chains);
  return MESHLET_CHAINS.filter((c) => declared.has(c));
}

/**
 * Restore input that removes every trace of meshlet from the nat table: all references to its
 * chains, then its chains (flushed first, since a chain must be empty and unreferenced to be
 * deleted). `undefined` when there is nothing to remove, so a clean netns needs no restore.
 */
export function cleanRestore(saved: SavedTable): string | undefined {
  const refs = meshletReferences(saved);
  const chains = existingMeshletChains(saved);
  if (refs.length === 0 && chains.length === 0) return undefined;
  const lines = [
    '# meshlet clean: remove every reference to meshlet chains, then the chains',
    '*nat',
    ...refs.map((r) => `-D ${r.chain} ${r.spec}`),
    ...chains.map((c) => `-F ${c}`),
    ...chains.map((c) => `-X ${c}`),
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Restore input that puts meshlet's part of the table back as it was in `previous`, right after
 * an `apply` that started from `previous` and used `edits` succeeded. Used when a later family
 * failed, so that `apply` changes both families or neither. Other chains are never touched.
 */
export function rollbackRestore(previous: SavedTable, edits: JumpEdits): string {
  const existed = new Set(existingMeshletChains(previous));
  const created = MESHLET_CHAINS.filter((c) => !existed.has(c));
  // References apply deleted go back where they were: meshletReferences lists them by chain in
  // ascending position, and inserting in that order rebuilds each chain's order.
  const deleted = edits.deletes.length === 0 ? [] : meshletReferences(previous);
  const reinserts = deleted.map((r) => `-I ${r.chain} ${r.position} ${r.spec}`);
  const lines = [
    '# meshlet rollback: restore meshlet chains and jumps as they were before apply',
    '*nat',
    ...(edits.insertJump ? [`-D ${HOOK_CHAIN} ${JUMP_SPEC}`] : []),
    ...[...existed].map((c) => `:${c} - [0:0]`),
    ...[...existed].flatMap((c) => (previous.rules.get(c) ?? []).map((r) => `-A ${c} ${r.spec}`)),
    ...created.map((c) => `-F ${c}`),
    ...created.map((c) => `-X ${c}`),
    ...reinserts,
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}
