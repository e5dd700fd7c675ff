/**
 * The recent published states the controller can send deltas from, and the deltas themselves,
 * each made once per version pair however many streams need it (issue 17). A stream's next push
 * is a delta from the version its agent last acknowledged when that version is still here; an
 * agent further behind (or one the controller never served) gets a full snapshot.
 *
 * Bounded: the newest state and {@link DELTA_BASES} before it; deltas only to the newest state
 * (pushes always send the newest), so at most one per base.
 *
 * In proportion to the change (issue 17, item 3): the state store's incremental build
 * (`cluster-state-updater.ts`) hands every unchanged workload and Service on to the next state
 * as the same object, so two kept states share all but what changed between them. A delta walks
 * the two states' sorted workload and Service lists side by side and skips an entry that is the
 * same object (a pointer comparison); only an entry that is a different object is encoded, and
 * each object's wire text is made once (kept by object) however many deltas include it. The
 * small sections (routes, policies, telemetry, zones) are diffed whole ({@link viewEntries}).
 * Kept states cost what they do not share: after an incremental build, their lists and changed
 * objects; after a full build (a Namespace, Node or MeshTLS change), a whole state, until it
 * falls out of the bases.
 */
import type { ClusterState } from '../../mesh/cluster-types.js';
import { diffEntries, encodeDelta, viewEntries, type ClusterDelta, type DeltaSection, type EncodedClusterDelta, type ViewEntries } from '../../mesh/snapshot-wire/delta.js';
import { serviceToWire, workloadToWire } from '../../mesh/snapshot-wire/encode.js';
import type { ServiceInfo, WorkloadInfo } from '../../mesh/types.js';
import type { PublishedState } from '../contracts.js';

/**
 * Versions kept before the newest to diff from. One push is in flight per stream and states
 * published meanwhile are coalesced, so a connected agent's base is usually the previous
 * version, at most a couple behind after a burst; an agent back from a short cut may be a few
 * more. Four covers those; an agent further behind costs one full snapshot.
 */
export const DELTA_BASES = 4;

interface Kept {
  readonly published: PublishedState;
  /** The small sections' diff form (routes, policies, telemetry, zones), made when first needed. */
  small: ViewEntries | undefined;
}

/** Recent states by version, and the deltas to the newest. */
export class ViewHistory {
  private readonly kept: Kept[] = [];
  /** Base version -> the delta from it to `deltasTo`. */
  private readonly deltas = new Map<string, EncodedClusterDelta>();
  private deltasTo: PublishedState | undefined;
  /** How many deltas were computed (tests check one per version pair, not per stream). */
  diffs = 0;
  /** A workload's entry text, by the state's object (see the module comment). */
  private readonly workloadTexts = new WeakMap<WorkloadInfo, string>();
  /** A Service's entry text and its endpoints' (the two sections {@link viewEntries} makes). */
  private readonly serviceTexts = new WeakMap<ServiceInfo, readonly [string, string]>();

  constructor(private readonly bases: number = DELTA_BASES) {}

  /** Keeps `published` (newer than every kept one, or already kept: then nothing). */
  remember(published: PublishedState): void {
    if (this.kept.some((k) => k.published === published)) return;
    // A version seen again as a new object (a restarted feed) replaces the old one.
    const same = this.kept.findIndex((k) => k.published.version === published.version);
    if (same !== -1) this.kept.splice(same, 1);
    this.kept.push({ published, small: undefined });
    while (this.kept.length > this.bases + 1) this.kept.shift();
  }

  /** Whether `version` is kept (a delta from it can be made). */
  holds(version: string): boolean {
    return this.kept.some((k) => k.published.version === version);
  }

  /**
   * The encoded delta from `fromVersion` to `to`, or undefined when `fromVersion` is not kept,
   * is `to` itself, or has another trust domain. Made once per pair; `to` is remembered first.
   */
  deltaTo(fromVersion: string, to: PublishedState): EncodedClusterDelta | undefined {
    if (fromVersion === to.version) return undefined;
    this.remember(to);
    const base = this.kept.find((k) => k.published.version === fromVersion);
    const target = this.kept.find((k) => k.published === to);
    // A new trust domain changes every identity: that takes a full snapshot.
    if (base === undefined || target === undefined || base.published.state.trustDomain !== to.state.trustDomain) return undefined;
    if (this.deltasTo !== to) {
      this.deltas.clear();
      this.deltasTo = to;
    }
    let delta = this.deltas.get(fromVersion);
    if (delta === undefined) {
      delta = encodeDelta(this.diff(base, target));
      this.diffs += 1;
      this.deltas.set(fromVersion, delta);
    }
    return delta;
  }

  /** The delta between two kept states: what {@link diffEntries} of their whole views gives. */
  private diff(base: Kept, target: Kept): ClusterDelta {
    base.small ??= smallEntries(base.published.state);
    target.small ??= smallEntries(target.published.state);
    const from = base.published.state;
    const to = target.published.state;
    const delta = diffEntries(base.small, target.small, base.published.version, target.published.version);
    const workloads = walk(from.workloads, to.workloads, (w) => w.uid, (w) => this.workloadText(w));
    const services = walk(from.services, to.services, (s) => s.key, (s) => this.servicePair(s)[0]);
    const endpoints = walk(from.services, to.services, (s) => s.key, (s) => this.servicePair(s)[1]);
    return { ...delta, workloads, services, endpoints: { upserted: endpoints.upserted, removed: [] } };
  }

  private workloadText(w: WorkloadInfo): string {
    let text = this.workloadTexts.get(w);
    if (text === undefined) this.workloadTexts.set(w, (text = JSON.stringify(workloadToWire(w))));
    return text;
  }

  private servicePair(s: ServiceInfo): readonly [string, string] {
    let texts = this.serviceTexts.get(s);
    if (texts === undefined) {
      // As viewEntries splits them: the Service without its endpoints, and the endpoints.
      const { endpoints, ...service } = serviceToWire(s);
      texts = [JSON.stringify(service), JSON.stringify({ service: s.key, endpoints })];
      this.serviceTexts.set(s, texts);
    }
    return texts;
  }
}

/** The diff form of a state without its workloads and Services (small: O(routes + policies + nodes)). */
function smallEntries(state: ClusterState): ViewEntries {
  return viewEntries({ ...state, workloads: [], services: [] });
}

/**
 * One section's change between two lists sorted by `key` (unique keys): each entry of `to` whose
 * text differs from `from`'s entry of its key (or that `from` lacks), parsed from its text, in
 * `to`'s order; each key of `from` that `to` lacks, in `from`'s order. An entry that is the same
 * object on both sides is skipped unread, so a state that shares its unchanged entries with its
 * base costs a pass of pointer comparisons plus its changed entries.
 */
function walk<T>(from: readonly T[], to: readonly T[], key: (item: T) => string, text: (item: T) => string): DeltaSection {
  const upserted: unknown[] = [];
  const removed: string[] = [];
  let i = 0;
  let j = 0;
  while (i < from.length || j < to.length) {
    const a = from[i];
    const b = to[j];
    if (a === b) {
      i += 1;
      j += 1;
      continue;
    }
    const ka = a === undefined ? undefined : key(a);
    const kb = b === undefined ? undefined : key(b);
    if (kb === undefined || (ka !== undefined && ka < kb)) {
      removed.push(ka as string);
      i += 1;
    } else if (ka === undefined || kb < ka) {
      upserted.push(JSON.parse(text(b as T)));
      j += 1;
    } else {
      const json = text(b as T);
      if (json !== text(a as T)) upserted.push(JSON.parse(json));
      i += 1;
      j += 1;
    }
  }
  return { upserted, removed };
}
