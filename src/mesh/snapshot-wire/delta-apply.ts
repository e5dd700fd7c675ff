/**
 * Applying a delta to the keyed view an agent holds. The delta's entries are untrusted: each is
 * decoded by the very decoder a full snapshot's entries go through (`entries.ts`, `routes.ts`,
 * `policies.ts`, `authz.ts`, `telemetry.ts`), and what a full decode checks across entries (no
 * uid, key or address twice, no workload on a node's address, endpoints only on their
 * Service's ports, routes on Services of the view, route policies on routes of the view, at
 * most 20,000 AuthorizationPolicies) is checked against the result through the held view's
 * indexes, in proportion to the delta. Any problem refuses the whole delta; the held view is
 * never changed (a new one is returned).
 */
import { authorizationPolicyDataProblems } from '../objects/authorization-policy.js';
import { MeshletError } from '../errors.js';
import { formatValue, isFields } from '../validate/values.js';
import type { ServiceInfo, WorkloadInfo } from '../types.js';
import { ADDRESS_REASONS, canonicalAddress } from '../workload-address.js';
import { AUTHZ_WIRE_LIMITS, decodeAuthorizationPolicies } from './authz.js';
import { fieldPath, WireProblems } from './checks.js';
import { serviceToWire } from './encode.js';
import { decodeService, decodeWorkload, zoneCheck } from './entries.js';
import { decodeRoutePolicies } from './policies.js';
import { decodeRoutes } from './routes.js';
import { mergeSorted } from './sorted-merge.js';
import { decodeTelemetry } from './telemetry.js';
import {
  authorizationPolicyKey,
  indexWorkload,
  LIST_ORDER,
  routeKey,
  telemetryKey,
  type ClusterDelta,
  type DeltaSection,
  type KeyedClusterView,
  type ListedClusterView,
  type WritableMap,
} from './delta-types.js';

/** Problems named in the error message (all are in `details`). */
const MESSAGE_PROBLEMS = 5;

/**
 * `view` (of version `heldVersion`) with `delta` applied. Throws MESHLET_ERR_CONTROLLER, `view`
 * untouched, when the delta is from another version than `heldVersion` (a gap: ask for a full
 * snapshot), changes the trust domain, removes a key the view does not hold, or holds an entry
 * a full snapshot would refuse; the message names each problem (`delta.workloads.upserted[0].
 * addresses[0]: "10.0.0.999" is not an IP address`).
 */
export function applyDelta(view: KeyedClusterView, heldVersion: string, delta: ClusterDelta): KeyedClusterView {
  return applyDeltaTracked(view, heldVersion, delta).view;
}

/** The keys a delta changed, per list of the view (removed, added or replaced). */
export type ChangedKeys = Readonly<Record<ListName, ReadonlySet<string>>>;
type ListName = keyof typeof LIST_ORDER;

/**
 * {@link applyDelta}, also saying which keys changed: the agent's node part checks its local
 * workloads against the changed ones only (`node-part.ts`).
 */
export function applyDeltaTracked(view: KeyedClusterView, heldVersion: string, delta: ClusterDelta): { readonly view: KeyedClusterView; readonly changed: ChangedKeys } {
  const head = `delta ${JSON.stringify(delta.fromVersion)} -> ${JSON.stringify(delta.toVersion)}`;
  if (delta.fromVersion !== heldVersion) {
    throw new MeshletError('MESHLET_ERR_CONTROLLER', `${head} does not apply to the held version ${JSON.stringify(heldVersion)} (a gap in versions: a full snapshot is needed)`);
  }
  const p = new WireProblems();
  const changed = { workloads: new Set<string>(), services: new Set<string>(), routes: new Set<string>(), routePolicies: new Set<string>(), authorizationPolicies: new Set<string>(), telemetry: new Set<string>() };
  if (delta.toVersion === '' || delta.toVersion === delta.fromVersion) p.add('delta.toVersion', `${formatValue(delta.toVersion)} must be a new version`);
  if (delta.trustDomain !== view.trustDomain) p.add('delta.trustDomain', `${formatValue(delta.trustDomain)} is not the held view's ${JSON.stringify(view.trustDomain)} (a full snapshot is needed)`);
  const w = applyWorkloads(p, view, delta.workloads, changed.workloads);
  const services = applyServices(p, view, delta, changed.services);
  const routes = applyRoutes(p, view, delta.routes, services, delta.services.upserted.length + delta.services.removed.length > 0, changed.routes);
  const maps = {
    ...w,
    trustDomain: view.trustDomain,
    services,
    routes,
    routePolicies: applyRoutePolicies(p, view, delta.routePolicies, routes, changed.routePolicies),
    authorizationPolicies: applyAuthorizationPolicies(p, view, delta.authorizationPolicies, changed.authorizationPolicies),
    telemetry: applyTelemetry(p, view, delta.telemetry, changed.telemetry),
    nodeZones: delta.nodeZones === undefined ? view.nodeZones : zones(p, delta.nodeZones),
  };
  if (p.total > 0) {
    const lines = p.lines.map(deltaPath);
    const more = p.total > MESSAGE_PROBLEMS ? `; and ${p.total - MESSAGE_PROBLEMS} more` : '';
    const count = p.total === 1 ? '' : ` (${p.total} problems)`;
    throw new MeshletError('MESHLET_ERR_CONTROLLER', `${head} is invalid${count}: ${lines.slice(0, MESSAGE_PROBLEMS).join('; ')}${more}`, { details: lines });
  }
  const l = view.listed;
  const listed: ListedClusterView = {
    trustDomain: view.trustDomain,
    workloads: relist(l.workloads, view.workloads, maps.workloads, changed.workloads, LIST_ORDER.workloads),
    services: relist(l.services, view.services, maps.services, changed.services, LIST_ORDER.services),
    routes: relist(l.routes, view.routes, maps.routes, changed.routes, LIST_ORDER.routes),
    routePolicies: relist(l.routePolicies, view.routePolicies, maps.routePolicies, changed.routePolicies, LIST_ORDER.routePolicies),
    authorizationPolicies: relist(l.authorizationPolicies, view.authorizationPolicies, maps.authorizationPolicies, changed.authorizationPolicies, LIST_ORDER.authorizationPolicies),
    telemetry: relist(l.telemetry, view.telemetry, maps.telemetry, changed.telemetry, LIST_ORDER.telemetry),
    nodeZones: maps.nodeZones,
  };
  return { view: { ...maps, listed }, changed };
}

/** A list of the held view with the entries of `changed` keys taken from `after`; unchanged: the same list. */
function relist<T>(list: readonly T[], before: ReadonlyMap<string, T>, after: ReadonlyMap<string, T>, changed: ReadonlySet<string>, sortKey: (item: T) => string): readonly T[] {
  if (changed.size === 0) return list;
  const removed: string[] = [];
  const inserted: T[] = [];
  for (const key of changed) {
    const old = before.get(key);
    if (old !== undefined) removed.push(sortKey(old));
    const now = after.get(key);
    if (now !== undefined) inserted.push(now);
  }
  return mergeSorted(list, removed, inserted, sortKey);
}

/** The full-view decoders name `cluster.routes[3]`: in a delta that is `delta.routes.upserted[3]`. */
function deltaPath(line: string): string {
  return line.replace(/^cluster\.(routes|routePolicies|telemetry|authorizationPolicies)(?=[[:])/, 'delta.$1.upserted');
}

/** The removed keys of `section`, each held by `held` and named once. */
function removals(p: WireProblems, name: string, section: DeltaSection, held: ReadonlyMap<string, unknown>): Set<string> {
  const out = new Set<string>();
  section.removed.forEach((key, i) => {
    const path = `delta.${name}.removed[${i}]`;
    if (!held.has(key)) p.add(path, `${formatValue(key)} is not held (nothing to remove)`);
    else if (out.has(key)) p.add(path, `${JSON.stringify(key)} appears twice`);
    else out.add(key);
  });
  return out;
}

/** Puts `value` at `key` unless it was upserted already or removed in the same delta. */
function upsert<T>(p: WireProblems, path: string, map: WritableMap<string, T>, key: string, value: T, seen: Set<string>, removed: ReadonlySet<string>): boolean {
  if (seen.has(key)) p.add(path, `${JSON.stringify(key)} appears twice`);
  else if (removed.has(key)) p.add(path, `${JSON.stringify(key)} is also removed by this delta`);
  else {
    seen.add(key);
    map.set(key, value);
    return true;
  }
  return false;
}

type WorkloadPart = Pick<KeyedClusterView, 'workloads' | 'addressOwners' | 'canonicalAddresses' | 'nodeAddresses'>;

function applyWorkloads(p: WireProblems, view: KeyedClusterView, section: DeltaSection, changed: Set<string>): WorkloadPart {
  const removed = removals(p, 'workloads', section, view.workloads);
  if (section.upserted.length === 0 && removed.size === 0) return view;
  const workloads = view.workloads.edit();
  const owners = view.addressOwners.edit();
  const canonical = view.canonicalAddresses.edit();
  const nodes = view.nodeAddresses.edit();
  const decoded = section.upserted.map((v, i) => decodeWorkload(p, v, `delta.workloads.upserted[${i}]`, view.trustDomain));
  // Out with every removed and replaced workload first: a delta may move an address between two.
  for (const uid of [...removed, ...decoded.map((d) => d.uid)]) {
    changed.add(uid);
    const old = workloads.get(uid);
    if (old !== undefined) indexWorkload(old, -1, owners, canonical, nodes);
    if (removed.has(uid)) workloads.delete(uid);
  }
  const seen = new Set<string>();
  const added: [WorkloadInfo, string][] = [];
  decoded.forEach((d, i) => {
    const path = `delta.workloads.upserted[${i}]`;
    if (d.uid === '' || !upsert(p, fieldPath(path, 'uid'), workloads, d.uid, d, seen, removed)) return;
    for (const a of d.addresses) {
      const owner = owners.get(a);
      if (owner !== undefined && owner !== d.uid) p.add(fieldPath(path, 'addresses'), `${a} is also the address of ${owner}`);
    }
    indexWorkload(d, 1, owners, canonical, nodes);
    added.push([d, path]);
  });
  // No workload on a node's address (issue 9): new workloads against every node address, and
  // node addresses new to the view against every workload address.
  for (const [d, path] of added) {
    d.addresses.forEach((a, j) => {
      const text = canonicalAddress(a);
      if (text !== undefined && nodes.has(text)) p.add(`${path}.addresses[${j}]`, `${JSON.stringify(a)} ${ADDRESS_REASONS.node}`);
    });
    const node = d.nodeAddress === '' ? undefined : canonicalAddress(d.nodeAddress);
    if (node !== undefined && !view.nodeAddresses.has(node) && (canonical.get(node) ?? 0) > 0 && !d.addresses.some((a) => canonicalAddress(a) === node)) {
      p.add(`${path}.nodeAddress`, `${JSON.stringify(d.nodeAddress)} is the address of a workload of the view`);
    }
  }
  return { workloads: workloads.done(), addressOwners: owners.done(), canonicalAddresses: canonical.done(), nodeAddresses: nodes.done() };
}

/** A Service's wire form without its endpoints, with `endpoints` instead: decoded as one. */
function withEndpoints(s: ServiceInfo, endpoints: unknown): Record<string, unknown> {
  return { ...serviceToWire({ ...s, endpoints: [] }), endpoints };
}

function applyServices(p: WireProblems, view: KeyedClusterView, delta: ClusterDelta, changed: Set<string>): KeyedClusterView['services'] {
  const section = delta.services;
  const removed = removals(p, 'services', section, view.services);
  if (delta.endpoints.removed.length > 0) p.add('delta.endpoints.removed', "must be empty: a Service's endpoints are removed with the Service");
  if (section.upserted.length === 0 && removed.size === 0 && delta.endpoints.upserted.length === 0) return view.services;
  const services = view.services.edit();
  for (const key of removed) {
    services.delete(key);
    changed.add(key);
  }
  const seen = new Set<string>();
  const upserted: [string, string][] = [];
  section.upserted.forEach((v, i) => {
    const path = `delta.services.upserted[${i}]`;
    // Endpoints travel in their own section: any here are not the Service's.
    const s = decodeService(p, isFields(v) ? { ...v, endpoints: [] } : v, path, view.trustDomain);
    const held = view.services.get(s.key)?.endpoints ?? [];
    if (s.key !== '' && upsert(p, fieldPath(path, 'key'), services, s.key, { ...s, endpoints: held }, seen, removed)) {
      upserted.push([s.key, path]);
      changed.add(s.key);
    }
  });
  const listed = new Set<string>();
  delta.endpoints.upserted.forEach((v, i) => {
    const path = `delta.endpoints.upserted[${i}]`;
    const key = isFields(v) ? v['service'] : undefined;
    const s = typeof key === 'string' ? services.get(key) : undefined;
    if (!isFields(v) || s === undefined) p.add(fieldPath(path, 'service'), `${formatValue(key)} is not a Service of the view`);
    else if (listed.has(s.key)) p.add(fieldPath(path, 'service'), `${JSON.stringify(s.key)} appears twice`);
    else {
      listed.add(s.key);
      changed.add(s.key);
      const decoded = decodeService(p, withEndpoints(s, v['endpoints']), path, view.trustDomain);
      services.set(s.key, { ...s, endpoints: decoded.endpoints });
    }
  });
  // A changed Service keeps its held endpoints unless new ones came: they must fit its new ports.
  for (const [key, path] of upserted) {
    const s = services.get(key);
    if (s !== undefined && !listed.has(key) && s.endpoints.length > 0) decodeService(p, withEndpoints(s, serviceToWire(s).endpoints), `${path} (held endpoints)`, view.trustDomain);
  }
  return services.done();
}

function applyRoutes(p: WireProblems, view: KeyedClusterView, section: DeltaSection, services: KeyedClusterView['services'], servicesChanged: boolean, changed: Set<string>): KeyedClusterView['routes'] {
  const removed = removals(p, 'routes', section, view.routes);
  if (section.upserted.length === 0 && removed.size === 0 && !servicesChanged) return view.routes;
  const draft = view.routes.edit();
  for (const key of removed) draft.delete(key);
  const seen = new Set<string>();
  if (section.upserted.length > 0) {
    for (const r of decodeRoutes(p, { routes: section.upserted }, [...services.values()])) upsert(p, `delta.routes.upserted ${routeKey(r)}`, draft, routeKey(r), r, seen, removed);
  }
  for (const key of [...removed, ...seen]) changed.add(key);
  const routes = draft.done();
  if (!servicesChanged) return routes;
  // A Service removed or changed under a held route: its parents must still be there.
  for (const [key, r] of routes) {
    if (seen.has(key)) continue;
    r.parents.forEach((parent, j) => {
      const s = services.get(`${parent.namespace}/${parent.name}`);
      const at = `delta.services: route ${key} parentRefs[${j}]`;
      if (s === undefined) p.add(at, `Service ${parent.namespace}/${parent.name} is no longer a Service of the view`);
      else if (parent.port !== undefined && !s.ports.some((sp) => sp.port === parent.port)) p.add(at, `port ${parent.port} is no longer a port of Service ${s.key}`);
    });
  }
  return routes;
}

function applyRoutePolicies(p: WireProblems, view: KeyedClusterView, section: DeltaSection, routes: KeyedClusterView['routes'], changed: Set<string>): KeyedClusterView['routePolicies'] {
  const removed = removals(p, 'routePolicies', section, view.routePolicies);
  if (section.upserted.length === 0 && removed.size === 0 && routes === view.routes) return view.routePolicies;
  const draft = view.routePolicies.edit();
  for (const key of removed) draft.delete(key);
  const seen = new Set<string>();
  if (section.upserted.length > 0) {
    for (const rp of decodeRoutePolicies(p, { routePolicies: section.upserted }, [...routes.values()])) upsert(p, `delta.routePolicies.upserted ${rp.route}`, draft, rp.route, rp, seen, removed);
  }
  for (const key of [...removed, ...seen]) changed.add(key);
  const policies = draft.done();
  for (const key of policies.keys()) if (!routes.has(key)) p.add(`delta.routes: route ${key}`, 'is removed but its TrafficPolicy is not');
  return policies;
}

function applyAuthorizationPolicies(p: WireProblems, view: KeyedClusterView, section: DeltaSection, changed: Set<string>): KeyedClusterView['authorizationPolicies'] {
  const removed = removals(p, 'authorizationPolicies', section, view.authorizationPolicies);
  if (section.upserted.length === 0 && removed.size === 0) return view.authorizationPolicies;
  const draft = view.authorizationPolicies.edit();
  for (const key of removed) draft.delete(key);
  const seen = new Set<string>();
  const decoded = decodeAuthorizationPolicies(p, { authorizationPolicies: section.upserted }, authorizationPolicyDataProblems);
  for (const policy of decoded) upsert(p, `delta.authorizationPolicies.upserted ${policy.key}`, draft, authorizationPolicyKey(policy), policy, seen, removed);
  for (const key of [...removed, ...seen]) changed.add(key);
  const policies = draft.done();
  if (policies.size > AUTHZ_WIRE_LIMITS.policies) p.add('delta.authorizationPolicies', `leaves ${policies.size} policies, more than ${AUTHZ_WIRE_LIMITS.policies}`);
  return policies;
}

function applyTelemetry(p: WireProblems, view: KeyedClusterView, section: DeltaSection, changed: Set<string>): KeyedClusterView['telemetry'] {
  const removed = removals(p, 'telemetry', section, view.telemetry);
  if (section.upserted.length === 0 && removed.size === 0) return view.telemetry;
  const telemetry = view.telemetry.edit();
  for (const key of removed) telemetry.delete(key);
  const seen = new Set<string>();
  for (const t of decodeTelemetry(p, { telemetry: section.upserted })) upsert(p, `delta.telemetry.upserted ${telemetryKey(t)}`, telemetry, telemetryKey(t), t, seen, removed);
  for (const key of [...removed, ...seen]) changed.add(key);
  return telemetry.done();
}

function zones(p: WireProblems, value: Readonly<Record<string, unknown>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, zone] of Object.entries(value)) {
    const why = typeof zone === 'string' ? zoneCheck(zone) : 'must be a string';
    if (why !== undefined) p.add(`delta.nodeZones[${JSON.stringify(name)}]`, `${formatValue(zone)} ${why}`);
    else out[name] = zone as string;
  }
  return out;
}
