/**
 * The `status` meshlet writes on an HTTPRoute or GRPCRoute: the route's `status.parents` with
 * meshlet's entries (controllerName `meshlet.io/controller`, one per Service parent) replaced
 * and every other controller's entries kept, as the Gateway API asks of each implementation.
 * A condition's `lastTransitionTime` moves only when its status changes. Pure.
 */
import { MESHLET_CONTROLLER_NAME, type RouteStatus } from '../../mesh/route-status.js';
import { canonicalJson } from '../canonical-json.js';
import { isFields, type Fields } from '../../mesh/validate/values.js';

/** The Gateway API's cap on `status.parents`. */
export const MAX_STATUS_PARENTS = 32;

type Json = Record<string, unknown>;

function parentRefJson(p: RouteStatus['parents'][number]['parentRef']): Json {
  const out: Json = { group: p.group, kind: p.kind, namespace: p.namespace, name: p.name };
  if (p.sectionName !== undefined) out['sectionName'] = p.sectionName;
  if (p.port !== undefined) out['port'] = p.port;
  return out;
}

const sameRef = (a: unknown, b: Json): boolean =>
  isFields(a) && ['group', 'kind', 'namespace', 'name', 'sectionName', 'port'].every((k) => (a[k] ?? (k === 'group' ? '' : undefined)) === b[k]);

/** The condition of `type` in a previous entry, if any. */
function previous(entries: readonly Fields[], ref: Json, type: string): Fields | undefined {
  const entry = entries.find((e) => sameRef(e['parentRef'], ref));
  const conditions = entry === undefined || !Array.isArray(entry['conditions']) ? [] : (entry['conditions'] as unknown[]);
  return conditions.find((c): c is Fields => isFields(c) && c['type'] === type);
}

/**
 * The route's new `status`, or undefined when meshlet's entries would not change (no write).
 * @param current the route's `status` as read from the API server
 * @param now RFC 3339 time for conditions whose status changed
 */
export function routeStatusBody(current: unknown, ours: RouteStatus, now: string): { parents: Json[] } | undefined {
  const parents = isFields(current) && Array.isArray(current['parents']) ? current['parents'].filter(isFields) : [];
  const mine = parents.filter((p) => p['controllerName'] === MESHLET_CONTROLLER_NAME);
  const others = parents.filter((p) => p['controllerName'] !== MESHLET_CONTROLLER_NAME);
  const generation = ours.generation;
  const next: Json[] = ours.parents
    .filter((p) => p.managed)
    .slice(0, Math.max(0, MAX_STATUS_PARENTS - others.length))
    .map((p) => {
      const parentRef = parentRefJson(p.parentRef);
      const conditions = p.conditions.map((c) => {
        const before = previous(mine, parentRef, c.type);
        const since = before !== undefined && before['status'] === c.status && typeof before['lastTransitionTime'] === 'string' ? before['lastTransitionTime'] : now;
        return { type: c.type, status: c.status, reason: c.reason, message: c.message, lastTransitionTime: since, ...(generation === undefined ? {} : { observedGeneration: generation }) };
      });
      return { parentRef, controllerName: MESHLET_CONTROLLER_NAME, conditions };
    });
  // Key order differs between what the API server returns and what is built here.
  if (canonicalJson(next) === canonicalJson(mine)) return undefined;
  return { parents: [...others, ...next] };
}
