/**
 * The recent published states the controller can send deltas from, and the deltas themselves,
 * each made once per version pair however many streams need it (issue 17). A stream's next push
 * is a delta from the version its agent last acknowledged when that version is still here; an
 * agent further behind (or one the controller never served) gets a full snapshot.
 *
 * Bounded: the newest state and {@link DELTA_BASES} before it; deltas only to the newest state
 * (pushes always send the newest), so at most one per base. A state's diff form
 * ({@link viewEntries}: JSON text per entry) is made the first time a delta needs it and kept
 * while the version is, so each version is encoded once for diffing, as the newer side first and
 * later as a base. An older version keeps only its diff form once it has one, not its state (the
 * state's object graph is several times the size of its text).
 *
 * The diff form is made in proportion to the change (issue 17, item 3): a workload's or a
 * Service's text is kept by the state object it was made from, and the state store's
 * incremental build (`cluster-state-updater.ts`) hands the unchanged ones on as the same
 * objects, so a new version stringifies only its changed workloads and Services; the versions
 * kept share the text of what they have in common, and the diff compares those texts by
 * reference first.
 */
import type { ClusterState } from '../../mesh/cluster-types.js';
import { diffEntries, encodeDelta, viewEntries, type EncodedClusterDelta, type ViewEntries } from '../../mesh/snapshot-wire/delta.js';
import { serviceToWire, workloadToWire } from '../../mesh/snapshot-wire/encode.js';
import type { ServiceInfo, WorkloadInfo } from '../../mesh/types.js';
import type { PublishedState } from '../contracts.js';

/**
 * Versions kept before the newest to diff from. One push is in flight per stream and states
 * published meanwhile are coalesced, so a connected agent's base is usually the previous
 * version, at most a couple behind after a burst; an agent back from a short cut may be a few
 * more. Four covers those; an agent further behind costs one full snapshot. Each older version
 * kept costs its diff text (the JSON of its entries: about 2.5 MB at 5,000 pods, 50 MB at
 * 100,000), and its state only until that text exists.
 */
export const DELTA_BASES = 4;

interface Kept {
  readonly version: string;
  readonly trustDomain: string;
  /** Dropped once `entries` is made and a newer version is kept: never both undefined. */
  published: PublishedState | undefined;
  entries: ViewEntries | undefined;
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
    const same = this.kept.findIndex((k) => k.version === published.version);
    if (same !== -1) this.kept.splice(same, 1);
    const previous = this.kept.at(-1);
    if (previous?.entries !== undefined) previous.published = undefined;
    this.kept.push({ version: published.version, trustDomain: published.state.trustDomain, published, entries: undefined });
    while (this.kept.length > this.bases + 1) this.kept.shift();
  }

  /** Whether `version` is kept (a delta from it can be made). */
  holds(version: string): boolean {
    return this.kept.some((k) => k.version === version);
  }

  /**
   * The encoded delta from `fromVersion` to `to`, or undefined when `fromVersion` is not kept,
   * is `to` itself, or has another trust domain. Made once per pair; `to` is remembered first.
   */
  deltaTo(fromVersion: string, to: PublishedState): EncodedClusterDelta | undefined {
    if (fromVersion === to.version) return undefined;
    this.remember(to);
    const base = this.kept.find((k) => k.version === fromVersion);
    const target = this.kept.find((k) => k.published === to);
    // A new trust domain changes every identity: that takes a full snapshot.
    if (base === undefined || target === undefined || base.trustDomain !== to.state.trustDomain) return undefined;
    if (this.deltasTo !== to) {
      this.deltas.clear();
      this.deltasTo = to;
    }
    let delta = this.deltas.get(fromVersion);
    if (delta === undefined) {
      // `published` is kept until `entries` exists (see Kept).
      base.entries ??= this.entriesOf((base.published as PublishedState).state);
      target.entries ??= this.entriesOf(to.state);
      if (base !== this.kept.at(-1)) base.published = undefined;
      delta = encodeDelta(diffEntries(base.entries, target.entries, fromVersion, to.version));
      this.diffs += 1;
      this.deltas.set(fromVersion, delta);
    }
    return delta;
  }

  /**
   * {@link viewEntries} of `state`, each workload's and Service's text made once per object:
   * O(changed entries) of JSON, plus a pass over the keys.
   */
  entriesOf(state: ClusterState): ViewEntries {
    const rest = viewEntries({ ...state, workloads: [], services: [] });
    const workloads = new Map<string, string>();
    for (const w of state.workloads) {
      let text = this.workloadTexts.get(w);
      if (text === undefined) this.workloadTexts.set(w, (text = JSON.stringify(workloadToWire(w))));
      workloads.set(w.uid, text);
    }
    const services = new Map<string, string>();
    const endpoints = new Map<string, string>();
    for (const s of state.services) {
      let texts = this.serviceTexts.get(s);
      if (texts === undefined) {
        // As viewEntries splits them: the Service without its endpoints, and the endpoints.
        const { endpoints: list, ...service } = serviceToWire(s);
        texts = [JSON.stringify(service), JSON.stringify({ service: s.key, endpoints: list })];
        this.serviceTexts.set(s, texts);
      }
      services.set(s.key, texts[0]);
      endpoints.set(s.key, texts[1]);
    }
    return { ...rest, sections: { ...rest.sections, workloads, services, endpoints } };
  }
}
