/**
 * Services by the labels their selectors name: which Services may select a workload, found
 * without looking at every Service. The incremental build (`cluster-state-updater.ts`) asks it
 * for the Services a changed Pod or Workload joins or leaves.
 */
import type { StateWorkload } from './cluster-types.js';
import { selectorMatches } from './tls-mode.js';
import type { ServiceObject } from './types.js';

/** Every Service object by key, and those with a selector by one of its `label=value` pairs. */
export class ServiceSelectors {
  private readonly byKey = new Map<string, ServiceObject>();
  /** namespace -> label key -> value -> keys of Services whose selector's first pair it is. */
  private readonly byPair = new Map<string, Map<string, Map<string, Set<string>>>>();
  /** namespace -> keys of Services with an empty selector (they select the whole namespace). */
  private readonly selectAll = new Map<string, Set<string>>();

  /** Adds `s`, or takes it out (`add` false). */
  update(s: ServiceObject, add: boolean): void {
    const key = `${s.namespace}/${s.name}`;
    if (add) this.byKey.set(key, s);
    else this.byKey.delete(key);
    if (s.selector === undefined) return;
    const first = Object.entries(s.selector)[0];
    let keys: Set<string> | undefined;
    if (first === undefined) {
      keys = this.selectAll.get(s.namespace);
      if (keys === undefined) this.selectAll.set(s.namespace, (keys = new Set()));
    } else {
      let labels = this.byPair.get(s.namespace);
      if (labels === undefined) this.byPair.set(s.namespace, (labels = new Map()));
      let values = labels.get(first[0]);
      if (values === undefined) labels.set(first[0], (values = new Map()));
      keys = values.get(first[1]);
      if (keys === undefined) values.set(first[1], (keys = new Set()));
    }
    if (add) keys.add(key);
    else keys.delete(key);
  }

  /** The Service object of `key` (`namespace/name`), if any. */
  service(key: string): ServiceObject | undefined {
    return this.byKey.get(key);
  }

  /** Keys of the Services whose selector selects `m` (by its namespace and labels). */
  matching(m: Pick<StateWorkload, 'namespace' | 'labels'>): string[] {
    const out = [...(this.selectAll.get(m.namespace) ?? [])];
    const labels = this.byPair.get(m.namespace);
    if (labels === undefined) return out;
    for (const [label, value] of Object.entries(m.labels)) {
      for (const key of labels.get(label)?.get(value) ?? []) {
        const selector = this.byKey.get(key)?.selector;
        if (selector !== undefined && selectorMatches(selector, m.labels)) out.push(key);
      }
    }
    return out;
  }
}
