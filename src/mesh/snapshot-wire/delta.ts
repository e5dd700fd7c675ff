/**
 * The delta between two versions of a cluster view (`delta-types.ts` has the keys) and its
 * encoding. Pure: views in, bytes out, bytes in, a structurally sound delta out. Its entries are
 * validated when it is applied (`delta-apply.ts`), by the decoders a full snapshot uses.
 *
 * On the wire as `SnapshotDelta` (docs/agent-api.md): the controller diffs once per version
 * pair (`src/controller/agent-api/view-history.ts`), the agent applies (`src/agent/control/`).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { MeshletError } from '../errors.js';
import { formatValue, isFields } from '../validate/values.js';
import { authorizationPolicyToWire } from './authz.js';
import { WireProblems } from './checks.js';
import { nodeZones, serviceToWire, workloadToWire } from './encode.js';
import { routePoliciesToWire } from './policies.js';
import { routeToWire } from './routes.js';
import { telemetryToWire } from './telemetry.js';
import {
  authorizationPolicyKey,
  CLUSTER_DELTA_ENCODING,
  CLUSTER_DELTA_FORMAT,
  DELTA_SECTIONS,
  routeKey,
  telemetryKey,
  type ClusterDelta,
  type DeltaSection,
  type DeltaSectionName,
  type EncodedClusterDelta,
} from './delta-types.js';
import { MAX_CLUSTER_VIEW_BYTES, type ClusterView } from './types.js';

export * from './delta-types.js';
export { applyDelta, applyDeltaTracked, type ChangedKeys } from './delta-apply.js';
export { heldLocalOf, localWorkloadsChange, nodeSnapshotOfChange, nodeSnapshotOfView, nodeSnapshotWhole, type HeldLocal, type LocalWorkloadsChange, type NodePart } from './node-part.js';

/** gzip level: the full view's (encode.ts); a one-pod delta is a few hundred bytes either way. */
const GZIP_LEVEL = 6;
/** Problems named in a decode error's message (all are in `details`). */
const MESSAGE_PROBLEMS = 5;

/** Key -> the entry's wire form as JSON text, for one section of one view. */
type Entries = ReadonlyMap<string, string>;

/**
 * A view as the diff compares it: per section, key -> the entry's wire JSON, plus its trust
 * domain and zones. Made once per version by {@link viewEntries} and reusable as either side of
 * any number of diffs (the controller keeps it for the versions it may diff from). Only text is
 * kept, no object graph: a changed entry is parsed back from its text.
 */
export interface ViewEntries {
  readonly trustDomain: string;
  readonly nodeZones: Readonly<Record<string, string>>;
  readonly sections: Readonly<Record<DeltaSectionName, Entries>>;
}

function entries<T>(list: readonly T[] | undefined, key: (item: T) => string, wire: (item: T) => unknown): Entries {
  const out = new Map<string, string>();
  for (const item of list ?? []) out.set(key(item), JSON.stringify(wire(item)));
  return out;
}

/** Every section of `view` in wire form, Services split from their endpoints. O(view). */
export function viewEntries(view: ClusterView): ViewEntries {
  const services = new Map<string, string>();
  const endpoints = new Map<string, string>();
  for (const s of view.services) {
    const { endpoints: list, ...service } = serviceToWire(s);
    services.set(s.key, JSON.stringify(service));
    endpoints.set(s.key, JSON.stringify({ service: s.key, endpoints: list }));
  }
  const sections = {
    workloads: entries(view.workloads, (w) => w.uid, workloadToWire),
    services,
    endpoints,
    routes: entries(view.routes, routeKey, routeToWire),
    routePolicies: entries(view.routePolicies, (p) => p.route, (p) => routePoliciesToWire([p])[0]),
    authorizationPolicies: entries(view.authorizationPolicies, authorizationPolicyKey, authorizationPolicyToWire),
    telemetry: entries(view.telemetry, telemetryKey, (t) => telemetryToWire([t])[0]),
  };
  return { trustDomain: view.trustDomain, nodeZones: nodeZones(view), sections };
}

function diffSection(from: Entries, to: Entries): DeltaSection {
  const upserted: unknown[] = [];
  for (const [key, json] of to) if (from.get(key) !== json) upserted.push(JSON.parse(json));
  const removed: string[] = [];
  for (const key of from.keys()) if (!to.has(key)) removed.push(key);
  return { upserted, removed };
}

/**
 * What changed from `from` (version `fromVersion`) to `to`: each added or changed entry whole,
 * in `to`'s order, each removed key; nothing for an unchanged entry. Endpoints of a removed
 * Service go with it; a new Service's endpoints come as an `endpoints` entry. O(view): both
 * views are encoded to compare them (the controller does it once per version, not per node).
 */
export function diffView(from: ClusterView, to: ClusterView, fromVersion: string, toVersion: string): ClusterDelta {
  return diffEntries(viewEntries(from), viewEntries(to), fromVersion, toVersion);
}

/** {@link diffView} of views already in {@link viewEntries} form: one pass over the keys. */
export function diffEntries(from: ViewEntries, to: ViewEntries, fromVersion: string, toVersion: string): ClusterDelta {
  const sections = Object.fromEntries(DELTA_SECTIONS.map((name) => [name, diffSection(from.sections[name], to.sections[name])])) as Record<DeltaSectionName, DeltaSection>;
  const endpoints = { upserted: sections.endpoints.upserted, removed: [] };
  const delta = { ...sections, endpoints, fromVersion, toVersion, trustDomain: to.trustDomain };
  return sameRecord(from.nodeZones, to.nodeZones) ? delta : { ...delta, nodeZones: to.nodeZones };
}

function sameRecord(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && b[k] === a[k]);
}

/** A delta's bytes: JSON, gzipped, like the full view. */
export function encodeDelta(delta: ClusterDelta): EncodedClusterDelta {
  const json = JSON.stringify({
    format: CLUSTER_DELTA_FORMAT,
    fromVersion: delta.fromVersion,
    toVersion: delta.toVersion,
    trustDomain: delta.trustDomain,
    ...Object.fromEntries(DELTA_SECTIONS.map((name) => [name, { upserted: delta[name].upserted, removed: delta[name].removed }])),
    ...(delta.nodeZones === undefined ? {} : { nodeZones: delta.nodeZones }),
  });
  return { fromVersion: delta.fromVersion, toVersion: delta.toVersion, encoding: CLUSTER_DELTA_ENCODING, bytes: gzipSync(json, { level: GZIP_LEVEL }) };
}

/** Bounds of {@link decodeDelta}; tests lower them to attack them cheaply. */
export interface DeltaLimits {
  /** Largest decompressed delta: a full view's bound, {@link MAX_CLUSTER_VIEW_BYTES}. */
  readonly maxBytes?: number;
}

/**
 * Reads a delta's bytes (untrusted): the encoding name, gzip, UTF-8 and JSON with the full
 * view's size bound, the format and versions, and each section as `{upserted: [...], removed:
 * [strings]}` (a section left out: no change). Throws MESHLET_ERR_CONTROLLER naming what is
 * wrong. The entries themselves are checked by `applyDelta`.
 */
export function decodeDelta(encoding: string, bytes: Uint8Array, limits: DeltaLimits = {}): ClusterDelta {
  const max = limits.maxBytes ?? MAX_CLUSTER_VIEW_BYTES;
  const fail = (why: string, cause?: unknown): MeshletError =>
    new MeshletError('MESHLET_ERR_CONTROLLER', `delta is invalid: ${why}`, cause === undefined ? {} : { cause });
  if (encoding !== CLUSTER_DELTA_ENCODING) throw fail(`encoding ${formatValue(encoding)} is not ${JSON.stringify(CLUSTER_DELTA_ENCODING)}`);
  if (!(bytes instanceof Uint8Array)) throw fail('must be bytes');
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(gunzipSync(bytes, { maxOutputLength: max })));
  } catch (err) {
    throw fail(`not a gzip stream of UTF-8 JSON of at most ${max} bytes: ${(err as Error).message}`, err);
  }
  if (!isFields(value)) throw fail(`must be a JSON object, got ${formatValue(value)}`);
  const p = new WireProblems();
  const text = (key: string): string => {
    const v = value[key];
    if (typeof v === 'string' && v !== '') return v;
    p.add(`delta.${key}`, `must be a non-empty string, got ${formatValue(v)}`);
    return '';
  };
  if (value['format'] !== CLUSTER_DELTA_FORMAT) p.add('delta.format', `${formatValue(value['format'])} is not ${JSON.stringify(CLUSTER_DELTA_FORMAT)}`);
  const header = { fromVersion: text('fromVersion'), toVersion: text('toVersion'), trustDomain: text('trustDomain') };
  const sections = Object.fromEntries(DELTA_SECTIONS.map((name) => [name, readSection(p, value[name], name)]));
  const zones = value['nodeZones'];
  if (zones !== undefined && !isFields(zones)) p.add('delta.nodeZones', `must be an object, got ${formatValue(zones)}`);
  if (p.total > 0) {
    const more = p.total > MESSAGE_PROBLEMS ? `; and ${p.total - MESSAGE_PROBLEMS} more` : '';
    throw new MeshletError('MESHLET_ERR_CONTROLLER', `delta ${JSON.stringify(header.fromVersion)} -> ${JSON.stringify(header.toVersion)} is invalid: ${p.lines.slice(0, MESSAGE_PROBLEMS).join('; ')}${more}`, { details: p.lines });
  }
  const delta = { ...(sections as Record<DeltaSectionName, DeltaSection>), ...header };
  return zones === undefined ? delta : { ...delta, nodeZones: zones as Record<string, string> };
}

function readSection(p: WireProblems, value: unknown, name: string): DeltaSection {
  if (value === undefined) return { upserted: [], removed: [] };
  if (!isFields(value)) {
    p.add(`delta.${name}`, `must be an object {upserted, removed}, got ${formatValue(value)}`);
    return { upserted: [], removed: [] };
  }
  const upserted = value['upserted'] ?? [];
  const removed = value['removed'] ?? [];
  if (!Array.isArray(upserted)) p.add(`delta.${name}.upserted`, `must be a list, got ${formatValue(upserted)}`);
  if (!Array.isArray(removed)) p.add(`delta.${name}.removed`, `must be a list, got ${formatValue(removed)}`);
  const keys = Array.isArray(removed) ? removed : [];
  keys.forEach((k, i) => {
    if (typeof k !== 'string' || k === '') p.add(`delta.${name}.removed[${i}]`, `must be a key (a non-empty string), got ${formatValue(k)}`);
  });
  return { upserted: Array.isArray(upserted) ? upserted : [], removed: keys as string[] };
}
