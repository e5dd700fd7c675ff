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
  /** Source or destination workload (or the Service, or an identity) in this namespace. */
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

/**
 * A filter made ready for the data path: the strings it compares with are made once, so a
 * test allocates nothing (`/name` suffixes, `/ns/N/sa/S`, `N/` prefixes).
 */
export class TapMatcher {
  readonly filter: TapFilter;
  private readonly kind: TapKind | undefined;
  private readonly outcome: string | undefined;
  private readonly workload: string | undefined;
  private readonly workloadSuffix: string;
  /** An exact SPIFFE id, or the `/ns/N/sa/S` suffix of one. */
  private readonly identity: string | undefined;
  private readonly identityExact: boolean;
  /** An exact Service key, or (a bare name) the `/name` suffix of one. */
  private readonly service: string | undefined;
  private readonly serviceExact: boolean;
  /** `namespace/`: the prefix of a Service key, and of a uid once its kind is skipped. */
  private readonly namespacePrefix: string | undefined;
  /** `/ns/namespace/sa/`: the namespace in a SPIFFE id (a peer on another node is known by its identity alone). */
  private readonly namespaceInId: string;

  constructor(f: TapFilter) {
    this.filter = f;
    this.kind = f.kind;
    this.outcome = f.outcome;
    this.workload = f.workload;
    this.workloadSuffix = `/${f.workload ?? ''}`;
    this.identityExact = f.identity?.startsWith('spiffe://') ?? false;
    this.identity = f.identity === undefined || this.identityExact ? f.identity : `/ns/${f.identity.replace('/', '/sa/')}`;
    const svc = f.service;
    this.serviceExact = svc !== undefined && (svc.includes('/') || svc.includes('.'));
    // name.namespace[.svc.cluster.local] is the key namespace/name.
    this.service = svc === undefined ? undefined : svc.includes('/') ? svc : svc.includes('.') ? `${svc.split('.')[1]}/${svc.split('.')[0]}` : `/${svc}`;
    this.namespacePrefix = f.namespace === undefined ? undefined : `${f.namespace}/`;
    this.namespaceInId = `/ns/${f.namespace ?? ''}/sa/`;
  }

  /**
   * Whether an event with these facts passes. Positional arguments so that the data path tests
   * a record's fields without making an object first. `outcome` undefined: an opened
   * connection, which no outcome filter passes.
   */
  matches(
    kind: TapKind,
    srcWorkload: string | undefined,
    dstWorkload: string | undefined,
    srcIdentity: string | undefined,
    dstIdentity: string | undefined,
    service: string | undefined,
    outcome: string | undefined,
  ): boolean {
    if (this.kind !== undefined && this.kind !== kind) return false;
    if (this.outcome !== undefined) {
      if (outcome === undefined) return false;
      if (this.outcome === 'failed' ? outcome === 'ok' : outcome !== this.outcome) return false;
    }
    if (this.workload !== undefined && !this.workloadIs(srcWorkload) && !this.workloadIs(dstWorkload)) return false;
    if (this.identity !== undefined && !this.identityIs(srcIdentity) && !this.identityIs(dstIdentity)) return false;
    if (this.service !== undefined && (service === undefined || !(this.serviceExact ? service === this.service : service.endsWith(this.service)))) return false;
    const ns = this.namespacePrefix;
    if (ns !== undefined && !uidIn(srcWorkload, ns) && !uidIn(dstWorkload, ns) && !(service !== undefined && service.startsWith(ns)) && !this.idIn(srcIdentity) && !this.idIn(dstIdentity)) return false;
    return true;
  }

  private workloadIs(uid: string | undefined): boolean {
    return uid !== undefined && (uid === this.workload || uid.endsWith(this.workloadSuffix));
  }

  private idIn(id: string | undefined): boolean {
    return id !== undefined && id.includes(this.namespaceInId);
  }

  private identityIs(id: string | undefined): boolean {
    return id !== undefined && (this.identityExact ? id === this.identity : id.endsWith(this.identity as string));
  }
}

/** Whether a uid (`Kind/namespace/name`) is in the namespace whose prefix is `nsPrefix` (`namespace/`). */
function uidIn(uid: string | undefined, nsPrefix: string): boolean {
  return uid !== undefined && uid.startsWith(nsPrefix, uid.indexOf('/') + 1);
}

/** Whether an event with these facts passes `f` (see {@link TapMatcher.matches}; tests and one-offs). */
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
  return new TapMatcher(f).matches(kind, srcWorkload, dstWorkload, srcIdentity, dstIdentity, service, outcome);
}

/** Whether any of `matchers` passes the facts. */
export function anyMatches(
  matchers: readonly TapMatcher[],
  kind: TapKind,
  srcWorkload: string | undefined,
  dstWorkload: string | undefined,
  srcIdentity: string | undefined,
  dstIdentity: string | undefined,
  service: string | undefined,
  outcome: string | undefined,
): boolean {
  for (let i = 0; i < matchers.length; i++) if ((matchers[i] as TapMatcher).matches(kind, srcWorkload, dstWorkload, srcIdentity, dstIdentity, service, outcome)) return true;
  return false;
}

/** Checks a filter arriving in a worker (from the primary: trusted, but checked cheaply). */
export function isTapFilter(v: unknown): v is TapFilter {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  return Object.entries(v).every(([k, value]) => TAP_FILTER_PARAMS.includes(k) && typeof value === 'string' && value.length <= MAX_VALUE_CHARS);
}
