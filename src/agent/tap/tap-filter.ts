/**
 * What a `meshlet tap` subscriber wants to see: a filter parsed from `GET /tap`'s query, and the
 * test of one event (or one record, before any event is built) against it. Pure; the data path
 * calls {@link matchesFacts} with the record's own fields, so nothing is allocated for a
 * connection or request that no filter wants.
 */
import { MeshletError } from '../../mesh/errors.js';
import { isDnsLabel } from '../../mesh/validate/formats.js';
import { unknownNameMessage } from '../../mesh/validate/values.js';
import type { ConnectionOutcome } from '../policy/outcomes.js';

/** Which events: connections (opened, closed) or finished HTTP requests. */
export type TapKind = 'connection' | 'request';

/**
 * A request's outcome: `ok`, `error` (5xx, a gRPC server failure, or no answer at all) or, when
 * the agent made the answer itself, its connection outcome (`denied`, `connect_failed`, ...).
 */
export type TapOutcome = ConnectionOutcome | 'error';

/** The outcomes a filter may name; `failed` stands for every outcome but `ok`. */
export const TAP_OUTCOMES: readonly string[] = ['ok', 'error', 'reset', 'denied', 'connect_failed', 'no_route', 'tunnel_failed', 'drained', 'failed'];

/** One subscriber's filter: every field present must match (plain data: it crosses the worker channel). */
export interface TapFilter {
  /** Source or destination workload (or the Service) in this namespace. */
  readonly namespace?: string;
  /** Source or destination workload: `name`, `namespace/name` or the uid `Kind/namespace/name`. */
  readonly workload?: string;
  /** Source or destination identity: a SPIFFE id, or `namespace/serviceaccount`. */
  readonly identity?: string;
  /** The Service: `namespace/name`, `name.namespace[.svc...]` or `name` (any namespace). */
  readonly service?: string;
  /** The outcome (closed connections and requests only: an opened connection has none yet). */
  readonly outcome?: string;
  readonly kind?: TapKind;
}

/** The query parameters of `GET /tap` that are filters. */
export const TAP_FILTER_PARAMS: readonly string[] = ['namespace', 'workload', 'identity', 'service', 'outcome', 'kind'];

/** Longest filter value: longer than any uid, SPIFFE id or Service name the snapshot holds. */
const MAX_VALUE_CHARS = 512;

const bad = (name: string, value: string, why: string): MeshletError =>
  new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${name}=${JSON.stringify(value.slice(0, 80))}: ${why}`);

/** A name segment: what a Kubernetes object name may hold (DNS subdomain characters), checked loosely. */
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function checkValue(name: string, value: string): string {
  if (value === '') throw bad(name, value, 'empty (leave the parameter out to match everything)');
  if (value.length > MAX_VALUE_CHARS) throw bad(name, value, `longer than ${MAX_VALUE_CHARS} characters`);
  switch (name) {
    case 'namespace':
      if (!isDnsLabel(value)) throw bad(name, value, 'not a namespace name (lower-case letters, digits and -, at most 63)');
      return value;
    case 'workload': {
      const parts = value.split('/');
      const names = parts.length === 3 ? parts.slice(1) : parts;
      if (parts.length > 3 || !names.every((p) => NAME.test(p))) throw bad(name, value, 'want name, namespace/name or Kind/namespace/name');
      return value;
    }
    case 'identity':
      if (value.startsWith('spiffe://') ? !/^spiffe:\/\/[^/\s]+\/\S+$/.test(value) : !/^[a-z0-9][-a-z0-9.]*\/[a-z0-9][-a-z0-9.]*$/.test(value)) {
        throw bad(name, value, 'want a SPIFFE id (spiffe://trust-domain/ns/N/sa/S) or namespace/serviceaccount');
      }
      return value;
    case 'service':
      if (!value.split('/').every((p) => NAME.test(p)) || value.split('/').length > 2) throw bad(name, value, 'want namespace/name, name.namespace or name');
      return value;
    case 'outcome':
      if (!TAP_OUTCOMES.includes(value)) throw bad(name, value, `must be one of ${TAP_OUTCOMES.join(', ')}`);
      return value;
    case 'kind':
      if (value !== 'connection' && value !== 'request') throw bad(name, value, 'must be connection or request');
      return value;
  }
  return value;
}

/**
 * The filter of a `GET /tap` query. `extra` names the other parameters the endpoint takes
 * (`max`, `duration`, `format`), which are not filters but are not unknown either.
 * @throws MeshletError MESHLET_ERR_CONFIG_INVALID naming the parameter: unknown, repeated, or a bad value.
 */
export function parseTapFilter(query: URLSearchParams, extra: readonly string[] = []): TapFilter {
  const known = [...TAP_FILTER_PARAMS, ...extra];
  const seen = new Set<string>();
  const filter: Record<string, string> = {};
  for (const [name, value] of query) {
    if (!known.includes(name)) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${name.slice(0, 40)}: ${unknownNameMessage(name, known, 'parameter', true)}`);
    if (seen.has(name)) throw bad(name, value, 'given more than once (one value per filter)');
    seen.add(name);
    if (TAP_FILTER_PARAMS.includes(name)) filter[name] = checkValue(name, value);
  }
  return Object.freeze(filter) as TapFilter;
}

/** The namespace of a uid (`Kind/namespace/name`) or a Service key (`namespace/name`). */
function namespaceOf(key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  const parts = key.split('/');
  return parts.length === 3 ? parts[1] : parts.length === 2 ? parts[0] : undefined;
}

function workloadIs(uid: string | undefined, want: string): boolean {
  return uid !== undefined && (uid === want || uid.endsWith(`/${want}`));
}

function identityIs(id: string | undefined, want: string): boolean {
  if (id === undefined) return false;
  if (want.startsWith('spiffe://')) return id === want;
  const slash = want.indexOf('/');
  return id.endsWith(`/ns/${want.slice(0, slash)}/sa/${want.slice(slash + 1)}`);
}

function serviceIs(key: string | undefined, want: string): boolean {
  if (key === undefined) return false;
  if (want.includes('/')) return key === want;
  const dot = want.indexOf('.');
  if (dot < 0) return key.endsWith(`/${want}`);
  // name.namespace[.svc.cluster.local]
  const [name, ns] = want.split('.');
  return key === `${ns}/${name}`;
}

/**
 * Whether an event with these facts passes `f`. Positional arguments so that the data path can
 * test a record's fields without making an object first. `outcome` undefined: an opened
 * connection, which no outcome filter passes.
 */
export function matchesFacts(
  f: TapFilter,
  kind: TapKind,
  srcWorkload: string | undefined,
  dstWorkload: string | undefined,
  srcIdentity: string | undefined,
  dstIdentity: string | undefined,
  service: string | undefined,
  outcome: string | undefined,
): boolean {
  if (f.kind !== undefined && f.kind !== kind) return false;
  if (f.outcome !== undefined) {
    if (outcome === undefined) return false;
    if (f.outcome === 'failed' ? outcome === 'ok' : outcome !== f.outcome) return false;
  }
  if (f.workload !== undefined && !workloadIs(srcWorkload, f.workload) && !workloadIs(dstWorkload, f.workload)) return false;
  if (f.identity !== undefined && !identityIs(srcIdentity, f.identity) && !identityIs(dstIdentity, f.identity)) return false;
  if (f.service !== undefined && !serviceIs(service, f.service)) return false;
  if (f.namespace !== undefined) {
    const ns = f.namespace;
    if (namespaceOf(srcWorkload) !== ns && namespaceOf(dstWorkload) !== ns && namespaceOf(service) !== ns) return false;
  }
  return true;
}

/** Whether any of `filters` passes the facts (see {@link matchesFacts}). */
export function anyMatches(
  filters: readonly TapFilter[],
  kind: TapKind,
  srcWorkload: string | undefined,
  dstWorkload: string | undefined,
  srcIdentity: string | undefined,
  dstIdentity: string | undefined,
  service: string | undefined,
  outcome: string | undefined,
): boolean {
  for (const f of filters) if (matchesFacts(f, kind, srcWorkload, dstWorkload, srcIdentity, dstIdentity, service, outcome)) return true;
  return false;
}

/** Checks a filter arriving in a worker (from the primary: trusted, but checked cheaply). */
export function isTapFilter(v: unknown): v is TapFilter {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  return Object.entries(v).every(([k, value]) => TAP_FILTER_PARAMS.includes(k) && typeof value === 'string' && value.length <= MAX_VALUE_CHARS);
}
