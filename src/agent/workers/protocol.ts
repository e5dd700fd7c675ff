/**
 * The messages between the agent's primary process (control plane: snapshots, keys, rules)
 * and its data-path worker processes, over the IPC channel of `child_process.fork` with
 * `serialization: 'advanced'` (structured clone: Dates and nested objects survive).
 *
 * The primary trusts nothing a worker sends: every message is checked by
 * {@link parseWorkerMessage} before use, and a bad one is logged and dropped.
 */
import type { NodeSnapshot } from '../../mesh/types.js';
import type { SnapshotChange } from './snapshot-change.js';
import { isBoundedString, isCount, isPortNumber } from '../../mesh/validate/formats.js';
import { isFields, type Fields } from '../../mesh/validate/values.js';
import type { AgentConfig } from '../config.js';
import type { ListenerFds, Listeners } from '../proxy/data-path.js';
import type { LeaseAsk, LeaseGrant } from './rate-lease.js';
import type { TapFilter } from '../tap/tap-filter.js';
import { isTapEvent, type TapEvent } from '../tap/tap-event.js';
import { TAP_MAX_BATCH } from '../tap/tap-batcher.js';

/** A workload's credentials as they cross the channel: the worker builds its own TLS context. */
export interface WireCredentials {
  readonly identity: string;
  readonly chainPem: string;
  readonly keyPem: string;
  readonly trustBundlePem: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly sni: string;
}

/** Ports every worker binds (resolved: never 0, the primary reserved them). */
export interface WorkerPorts extends Listeners<number> {
  /** Whether the primary could reserve the IPv6 capture listeners too (`::`, v6only). */
  readonly ipv6: boolean;
}

/** An address a worker bound, as `net.Server#address()` gives it. */
export interface WireAddress {
  readonly address: string;
  readonly family: string;
  readonly port: number;
}

/** Primary -> worker. */
export type ToWorker =
  | {
      readonly type: 'init';
      readonly index: number;
      readonly config: AgentConfig;
      readonly ports: WorkerPorts;
      /** The listener sets this worker serves, as its own descriptors (inherited from the primary). */
      readonly sets: readonly ListenerFds[];
      readonly levels: { readonly root: string; readonly components: Readonly<Record<string, string>> };
      /** The snapshot in force and every credential: a worker never accepts without them. */
      readonly snapshot: NodeSnapshot;
      /** The snapshot's number: the next `snapshot-change` applies to it. */
      readonly seq: number;
      readonly credentials: readonly WireCredentials[];
      /** The tunnel server's TLS session ticket keys, the same in every worker. */
      readonly ticketKeys: Uint8Array;
    }
  | { readonly type: 'ticket-keys'; readonly keys: Uint8Array }
  | { readonly type: 'snapshot'; readonly snapshot: NodeSnapshot; readonly seq: number }
  /** The next snapshot as the change from the one numbered `change.fromSeq` (`snapshot-change.ts`). */
  | { readonly type: 'snapshot-change'; readonly change: SnapshotChange }
  | { readonly type: 'credentials'; readonly credentials: WireCredentials }
  | { readonly type: 'forget'; readonly identity: string }
  | { readonly type: 'log-level'; readonly level: string; readonly component?: string }
  | { readonly type: 'reply'; readonly id: number; readonly credentials?: WireCredentials; readonly error?: string }
  | { readonly type: 'query'; readonly id: number; readonly what: WorkerQuery }
  | { readonly type: 'drain'; readonly deadlineMs: number }
  | { readonly type: 'destroy' }
  /** Tokens of a rate-limit bucket, the answer to a `tokens` ask (see `rate-lease.ts`). */
  | ({ readonly type: 'granted' } & LeaseGrant)
  /** The tap subscribers' filters (`meshlet tap`); none: stop tapping. Sent only while some tap is open. */
  | { readonly type: 'tap'; readonly filters: readonly TapFilter[] };

/**
 * What the primary can ask a worker. `resilience` answers the worker's live resilience state
 * (`admin/resilience-rows.ts`), checked by `parseProcessResilience` before use.
 */
export type WorkerQuery = 'connections' | 'endpoints' | 'metrics' | 'resilience' | 'tunnels';

/** Worker -> primary. */
export type FromWorker =
  | ({ readonly type: 'bound' } & Listeners<readonly WireAddress[], WireAddress>)
  | { readonly type: 'bind-failed'; readonly error: string }
  | { readonly type: 'need-credentials'; readonly id: number; readonly identity?: string; readonly sni?: string }
  | { readonly type: 'answer'; readonly id: number; readonly value?: unknown; readonly error?: string }
  | { readonly type: 'drained'; readonly drained: number; readonly forced: boolean }
  /** A lease of rate-limit tokens (the primary owns the buckets: `token-grants.ts`). */
  | ({ readonly type: 'tokens' } & LeaseAsk)
  /** The worker holds snapshot `seq`, not the one a change applied to: it asks for the whole one. */
  | { readonly type: 'resync'; readonly seq: number }
  /** Tap events (`tap-batcher.ts`): at most TAP_MAX_BATCH, and how many were dropped since the last batch. */
  | { readonly type: 'tap-events'; readonly events: readonly TapEvent[]; readonly dropped: number };

/** Longest string a worker may send where no tighter bound applies (an error message). */
const MAX_TEXT = 4096;
/** Bounds of a `tokens` ask: a rule id is `<namespace>/<name>#<n>`, a uid `<kind>/<namespace>/<name>`, a source a SPIFFE id. */
const MAX_RULE_ID = 320;
const MAX_UID = 320;
const MAX_SOURCE = 512;
/** Tokens one ask may want (the primary grants at most a lease anyway). */
export const MAX_TOKENS_ASKED = 1000;

function tokensProblem(m: Fields): string | undefined {
  if (!isCount(m['id'])) return 'tokens: id must be a non-negative integer';
  if (!isBoundedString(m['rule'], MAX_RULE_ID) || !isBoundedString(m['workload'], MAX_UID)) return 'tokens: rule and workload must be short strings';
  if (m['source'] !== undefined && !isBoundedString(m['source'], MAX_SOURCE)) return 'tokens: source must be a short string when present';
  const want = m['want'];
  return isCount(want) && want >= 1 && want <= MAX_TOKENS_ASKED ? undefined : `tokens: want must be an integer 1..${MAX_TOKENS_ASKED}`;
}

function isAddress(v: unknown): v is WireAddress {
  return isFields(v) && isBoundedString(v['address'], 64) && isBoundedString(v['family'], 8) && isPortNumber(v['port']);
}

function isAddressList(v: unknown): v is WireAddress[] {
  return Array.isArray(v) && v.length <= 4 && v.every(isAddress);
}

/** Why a worker message is malformed, or undefined when it is well formed. */
function problem(m: Fields): string | undefined {
  switch (m['type']) {
    case 'bound':
      return isAddressList(m['outbound']) && isAddressList(m['inbound']) && isAddress(m['tunnel']) ? undefined : 'bound: outbound/inbound/tunnel addresses malformed';
    case 'bind-failed':
      return isBoundedString(m['error'], MAX_TEXT) ? undefined : 'bind-failed: error must be a string';
    case 'need-credentials': {
      if (!isCount(m['id'])) return 'need-credentials: id must be a non-negative integer';
      // Exactly one name, a string, and the other absent: the pool asks by `identity` whenever
      // it is not undefined, so `identity: 0` beside a string `sni` must not pass (fuzzing).
      const byIdentity = isBoundedString(m['identity'], 512) && m['sni'] === undefined;
      const bySni = isBoundedString(m['sni'], 256) && m['identity'] === undefined;
      return byIdentity || bySni ? undefined : 'need-credentials: exactly one of identity or sni (strings)';
    }
    case 'answer':
      if (!isCount(m['id'])) return 'answer: id must be a non-negative integer';
      return m['error'] === undefined || isBoundedString(m['error'], MAX_TEXT) ? undefined : 'answer: error must be a string';
    case 'tokens':
      return tokensProblem(m);
    case 'tap-events': {
      const events = m['events'];
      if (!Array.isArray(events) || events.length > TAP_MAX_BATCH) return `tap-events: events must be a list of at most ${TAP_MAX_BATCH}`;
      if (!isCount(m['dropped'])) return 'tap-events: dropped must be a non-negative integer';
      const bad = events.findIndex((e) => !isTapEvent(e));
      return bad < 0 ? undefined : `tap-events: event ${bad} malformed (unknown type or field, or a value too long)`;
    }
    case 'resync':
      return isCount(m['seq']) ? undefined : 'resync: seq must be a non-negative integer';
    case 'drained':
      return isCount(m['drained']) && typeof m['forced'] === 'boolean' ? undefined : 'drained: drained must be a count and forced a boolean';
    default:
      return `unknown message type ${JSON.stringify(String(m['type'])).slice(0, 40)}`;
  }
}

/**
 * Checks a message from a worker.
 * @returns the message, or a sentence saying what is wrong with it (for the log).
 */
export function parseWorkerMessage(value: unknown): FromWorker | string {
  if (!isFields(value)) return `not an object (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
  const why = problem(value);
  return why === undefined ? (value as FromWorker) : why;
}

/** Checks credentials arriving in a worker (from the primary: trusted, but checked cheaply). */
export function isWireCredentials(v: unknown): v is WireCredentials {
  return (
    isFields(v) && isBoundedString(v['identity'], 512) && isBoundedString(v['chainPem'], 65_536) && isBoundedString(v['keyPem'], 16_384) &&
    isBoundedString(v['trustBundlePem'], 262_144) && isBoundedString(v['serial'], 128) && v['notBefore'] instanceof Date &&
    v['notAfter'] instanceof Date && isBoundedString(v['sni'], 256)
  );
}

/** Checks a snapshot change arriving in a worker (from the primary: trusted, but checked cheaply). */
export function isSnapshotChange(v: unknown): v is SnapshotChange {
  const list = (d: unknown): boolean => isFields(d) && Array.isArray(d['removed']) && Array.isArray(d['upserted']) && d['removed'].every((k) => typeof k === 'string');
  return (
    isFields(v) && isCount(v['fromSeq']) && isCount(v['seq']) && list(v['workloads']) && list(v['services']) && list(v['localWorkloads']) &&
    isFields(v['fields']) && Array.isArray(v['unset']) && v['unset'].every((k) => typeof k === 'string')
  );
}
