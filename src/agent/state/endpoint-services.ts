/**
 * Endpoint `address|targetPort` -> the Services with it as an endpoint, for the L7 request
 * metrics' `destination_service` (`requestService`, `http/inbound-http.ts`). Built from every
 * Service port once ({@link buildEndpointServices}: O(endpoints), 120-300 ms at 100,000 pods),
 * then derived per snapshot from the previous table and the Service ports that changed
 * ({@link deriveEndpointServices}: the cost of the change). Each key holds how many endpoint
 * rows of each Service name it, so taking out a changed Service port's rows never drops a
 * Service another of its ports still sends there.
 */
import { LayeredMap } from '../../mesh/snapshot-wire/layered-map.js';
import type { ServiceEntryChange, ServicePortEntry } from './index-tables.js';

/** The Services of one endpoint: keys sorted, each with its count of endpoint rows. */
export interface EndpointServiceSet {
  /** Service keys (`namespace/name`), sorted, each once. */
  readonly keys: readonly string[];
  /** Rows naming `keys[i]` (Service ports and duplicate endpoints). */
  readonly counts: readonly number[];
}

/** The table: `address|targetPort` -> its Services. */
export type EndpointServices = LayeredMap<string, EndpointServiceSet>;

/** The table's key of an endpoint address and target port. */
export function endpointKey(address: string, port: number): string {
  return `${address}|${port}`;
}

/** Calls `row` for each endpoint row of `entry`: its key (endpoints without a target port for it have none). */
function eachRow(entry: ServicePortEntry, row: (key: string) => void): void {
  for (const ep of entry.endpoints) {
    const port = ep.targetPorts[entry.port.port];
    if (port !== undefined) row(endpointKey(ep.address, port));
  }
}

/** The table of every Service port. */
export function buildEndpointServices(entries: readonly ServicePortEntry[]): EndpointServices {
  const counts = new Map<string, Map<string, number>>();
  for (const e of entries) {
    const service = e.service.key;
    eachRow(e, (k) => {
      let byService = counts.get(k);
      if (byService === undefined) counts.set(k, (byService = new Map()));
      byService.set(service, (byService.get(service) ?? 0) + 1);
    });
  }
  const out = new Map<string, EndpointServiceSet>();
  for (const [k, byService] of counts) {
    const keys = [...byService.keys()].sort(compare);
    out.set(k, { keys, counts: keys.map((s) => byService.get(s) as number) });
  }
  return LayeredMap.of(out);
}

/**
 * The table after `changed` (a changed Service port is in both lists: its old entry removed, its
 * new one added), from `before` (the table of the index the change was taken from). `before`
 * is left as it was. Undefined when a removed row is not in `before` (the table and the change
 * disagree: the caller builds afresh).
 */
export function deriveEndpointServices(before: EndpointServices, changed: ServiceEntryChange): EndpointServices | undefined {
  if (changed.removed.length + changed.added.length === 0) return before;
  const draft = before.edit();
  let consistent = true;
  const bump = (k: string, service: string, by: number): void => {
    const set = draft.get(k) ?? EMPTY;
    const next = bumped(set, service, by);
    if (next === undefined) consistent = false;
    else if (next.keys.length === 0) draft.delete(k);
    else draft.set(k, next);
  };
  for (const e of changed.removed) eachRow(e, (k) => bump(k, e.service.key, -1));
  for (const e of changed.added) eachRow(e, (k) => bump(k, e.service.key, 1));
  return consistent ? draft.done() : undefined;
}

const EMPTY: EndpointServiceSet = Object.freeze({ keys: [], counts: [] });

/** `set` with `service`'s count moved by `by` (gone at 0); undefined when it would go below 0. */
function bumped(set: EndpointServiceSet, service: string, by: number): EndpointServiceSet | undefined {
  const i = set.keys.indexOf(service);
  if (i < 0) {
    if (by < 0) return undefined;
    const keys = [...set.keys, service].sort(compare);
    const at = keys.indexOf(service);
    const counts = [...set.counts];
    counts.splice(at, 0, by);
    return { keys, counts };
  }
  const n = (set.counts[i] as number) + by;
  if (n < 0) return undefined;
  if (n === 0) return { keys: set.keys.filter((_, j) => j !== i), counts: set.counts.filter((_, j) => j !== i) };
  return { keys: set.keys, counts: set.counts.map((c, j) => (j === i ? n : c)) };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
