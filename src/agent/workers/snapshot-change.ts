/**
 * A snapshot handed to the data-path workers as the change from the one they hold (issue 17):
 * the structured clone of a whole 100,000-pod snapshot is ~47 MB and seconds of CPU on each
 * side, per worker, per push; a one-pod change is the changed entries. The primary numbers the
 * snapshots it hands over (`seq`); a change names the one it applies to (`fromSeq`), and a
 * worker holding another (it restarted, or missed one) asks for the whole snapshot again.
 * Pure: the primary makes a change from two snapshots, the worker applies it to its own copy.
 */
import { mergeSorted } from '../../mesh/snapshot-wire/sorted-merge.js';
import type { NodeSnapshot, ServiceInfo, WorkloadInfo } from '../../mesh/types.js';
import { indexOfKey, sortedListChange, type ListChange } from '../state/list-changes.js';
import type { ListChanges } from '../state/index-tables.js';

/** The entries of one list that changed: the keys of the entries gone (a replaced one too) and the entries new or replaced. */
export interface ListDelta<T> {
  readonly removed: readonly string[];
  readonly upserted: readonly T[];
}

/** The lists a change carries entry by entry; every other field of the snapshot goes whole when it changed. */
type Listed = 'workloads' | 'services' | 'localWorkloads';

/** A snapshot as the change from the one numbered `fromSeq`. */
export interface SnapshotChange {
  readonly fromSeq: number;
  readonly seq: number;
  readonly workloads: ListDelta<WorkloadInfo>;
  readonly services: ListDelta<ServiceInfo>;
  readonly localWorkloads: ListDelta<WorkloadInfo>;
  /** The other fields that changed (the same object as before otherwise: not sent). */
  readonly fields: Partial<Omit<NodeSnapshot, Listed>>;
  /** Optional fields the new snapshot no longer has. */
  readonly unset: readonly string[];
}

const uidOf = (w: WorkloadInfo): string => w.uid;
const keyOf = (s: ServiceInfo): string => s.key;
const LISTED: ReadonlySet<string> = new Set<Listed>(['workloads', 'services', 'localWorkloads']);

/** A change of at most this many entries per list; past it the whole snapshot is as cheap. */
const MAX_CHANGED = 4096;

/**
 * The change from `before` (numbered `fromSeq`, its lists strictly in key order) to `after`,
 * found by reference (`list-changes.ts`); undefined when it is large or `after`'s lists are not
 * in key order (then the whole snapshot goes). `known`: the lists' changes when the caller has
 * them (the primary's index derive found them): no walk.
 */
export function snapshotChange(before: NodeSnapshot, after: NodeSnapshot, fromSeq: number, seq: number, known?: ListChanges): SnapshotChange | undefined {
  const small = <T>(c: ListChange<T> | undefined): ListChange<T> | undefined => (c === undefined || c.removed.length + c.added.length > MAX_CHANGED ? undefined : c);
  const workloads = small(known?.workloads ?? sortedListChange(before.workloads, after.workloads, uidOf, MAX_CHANGED));
  const services = small(known?.services ?? sortedListChange(before.services, after.services, keyOf, MAX_CHANGED));
  const local = small(known?.localWorkloads ?? sortedListChange(before.localWorkloads, after.localWorkloads, uidOf, MAX_CHANGED));
  if (workloads === undefined || services === undefined || local === undefined) return undefined;
  const fields: Record<string, unknown> = {};
  const unset: string[] = [];
  const was = before as unknown as Record<string, unknown>;
  const now = after as unknown as Record<string, unknown>;
  for (const key of Object.keys(now)) if (!LISTED.has(key) && now[key] !== was[key]) fields[key] = now[key];
  for (const key of Object.keys(was)) if (!LISTED.has(key) && !Object.hasOwn(now, key)) unset.push(key);
  return { fromSeq, seq, workloads: delta(workloads, uidOf), services: delta(services, keyOf), localWorkloads: delta(local, uidOf), fields: fields as SnapshotChange['fields'], unset };
}

function delta<T>(change: ListChange<T>, key: (item: T) => string): ListDelta<T> {
  return { removed: change.removed.map(key), upserted: change.added };
}

/**
 * `before` with `change` applied: each list merged (the unchanged entries are `before`'s, the
 * same objects: the worker's index derives from its previous one), the local workloads
 * resolved to the new workloads list's entries where it has them, the other fields replaced;
 * and the lists' changes as objects (the entries gone, from `before`, and the new ones), for
 * the worker's index derive.
 */
export function applySnapshotChange(before: NodeSnapshot, change: SnapshotChange): { snapshot: NodeSnapshot; lists: ListChanges } {
  const workloads = merge(before.workloads, change.workloads, uidOf);
  const sameEntry = (w: WorkloadInfo): WorkloadInfo => {
    const at = indexOfKey(workloads, w.uid, uidOf);
    return at < 0 ? w : (workloads[at] as WorkloadInfo);
  };
  const local = { removed: change.localWorkloads.removed, upserted: change.localWorkloads.upserted.map(sameEntry) };
  const next: Record<string, unknown> = {
    ...before,
    ...change.fields,
    workloads,
    services: merge(before.services, change.services, keyOf),
    localWorkloads: merge(before.localWorkloads, local, uidOf),
  };
  for (const key of change.unset) delete next[key];
  const lists: ListChanges = {
    workloads: objects(before.workloads, change.workloads, uidOf),
    services: objects(before.services, change.services, keyOf),
    localWorkloads: objects(before.localWorkloads, local, uidOf),
  };
  return { snapshot: next as unknown as NodeSnapshot, lists };
}

/** A list delta as the entries it removed from `list` (found by binary search) and those it added. */
function objects<T>(list: readonly T[], d: ListDelta<T>, key: (item: T) => string): ListChange<T> {
  const removed: T[] = [];
  for (const k of d.removed) {
    const at = indexOfKey(list, k, key);
    if (at >= 0) removed.push(list[at] as T);
  }
  return { removed, added: d.upserted };
}

function merge<T>(list: readonly T[], d: ListDelta<T>, key: (item: T) => string): readonly T[] {
  return d.removed.length + d.upserted.length === 0 ? list : mergeSorted(list, d.removed, d.upserted, key);
}
