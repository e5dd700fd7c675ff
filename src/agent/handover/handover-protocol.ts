/**
 * The listener handover between an old agent and its replacement on the same node (an upgrade):
 * the messages on the handover socket, and the checks both ends make. Pure: no socket here.
 *
 * 1. new -> old: `{"type":"takeover","version":1,"node":N,"pid":P}` (one line).
 * 2. old -> new: `{"type":"listeners",...,"entries":[...],"more":bool}` lines, each carrying its
 *    entries' listening sockets as SCM_RIGHTS; or `{"type":"refused","reason":R}`.
 * 3. new -> old, once it serves: `{"type":"serving"}`. The old agent then stops accepting and
 *    drains. The connection closing before that aborts the takeover: the old agent serves on.
 *
 * The listening sockets themselves move, so no listener ever closes during an upgrade:
 * connections queued or half-open on them are accepted by whichever agent calls accept() next.
 */
import { isBoundedString, isCount, isPortNumber } from '../../mesh/validate/formats.js';
import { isFields } from '../../mesh/validate/values.js';

/** Version of the messages; a peer speaking another one is refused. */
export const HANDOVER_VERSION = 1;
/** Longest line either end accepts (a `listeners` line of 64 entries is about 5 KiB). */
export const MAX_LINE_BYTES = 16_384;
/** Sockets per `listeners` line: well under the kernel's SCM_MAX_FD (253). */
export const MAX_FDS_PER_LINE = 64;
/** Entries of a whole takeover: 64 workers x 5 data listeners + 3 ops ports, with room. */
export const MAX_ENTRIES = 1024;

/** What a listening socket is for. Data listeners come in sets (one per worker); ops ports in none. */
export type ListenerRole = 'outbound' | 'inbound' | 'tunnel' | 'readiness' | 'metrics' | 'admin';
const ROLES: readonly ListenerRole[] = ['outbound', 'inbound', 'tunnel', 'readiness', 'metrics', 'admin'];
export const OPS_ROLES: readonly ListenerRole[] = ['readiness', 'metrics', 'admin'];

/** One handed-over listening socket: its role, its set (a data listener's worker share; 0 for ops ports) and its address. */
export interface ListenerEntry {
  readonly role: ListenerRole;
  readonly set: number;
  readonly host: string;
  readonly port: number;
}

export interface TakeoverRequest {
  readonly type: 'takeover';
  readonly version: number;
  readonly node: string;
  readonly pid: number;
}

export type HandoverReply =
  | { readonly type: 'listeners'; readonly version: number; readonly node: string; readonly entries: readonly ListenerEntry[]; readonly more: boolean }
  | { readonly type: 'refused'; readonly reason: string };

/** The ports an agent is configured with, by role (0: any, in tests). */
export type RolePorts = Readonly<Record<ListenerRole, number>>;

function parseLine(line: string, what: string): Record<string, unknown> | string {
  if (Buffer.byteLength(line) > MAX_LINE_BYTES) return `${what}: longer than ${MAX_LINE_BYTES} bytes`;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return `${what}: not JSON: ${JSON.stringify(line.slice(0, 80))}`;
  }
  return isFields(value) ? value : `${what}: not a JSON object`;
}

/** The old agent's check of a takeover request: the request, or why it is refused. */
export function parseTakeoverRequest(line: string, node: string): TakeoverRequest | string {
  const m = parseLine(line, 'takeover request');
  if (typeof m === 'string') return m;
  if (m['type'] !== 'takeover') return `takeover request: type must be "takeover", got ${JSON.stringify(m['type'])}`;
  if (m['version'] !== HANDOVER_VERSION) return `takeover request: version ${JSON.stringify(m['version'])} is not ${HANDOVER_VERSION}`;
  if (!isBoundedString(m['node'], 253)) return 'takeover request: node must be a string';
  if (m['node'] !== node) return `takeover request: for node ${JSON.stringify(m['node'])}, this agent serves ${JSON.stringify(node)}`;
  if (!isCount(m['pid']) || m['pid'] < 1) return 'takeover request: pid must be a positive integer';
  return { type: 'takeover', version: HANDOVER_VERSION, node, pid: m['pid'] };
}

function isEntry(v: unknown): v is ListenerEntry {
  return isFields(v) && ROLES.includes(v['role'] as ListenerRole) && isCount(v['set']) && (v['set'] as number) < MAX_ENTRIES && isBoundedString(v['host'], 64) && isPortNumber(v['port']) && v['port'] !== 0;
}

/** The new agent's check of one line from the old agent: the reply, or what is wrong with it. */
export function parseHandoverReply(line: string, node: string): HandoverReply | string {
  const m = parseLine(line, 'handover reply');
  if (typeof m === 'string') return m;
  if (m['type'] === 'refused') return isBoundedString(m['reason'], 1024) ? { type: 'refused', reason: m['reason'] } : 'handover reply: refused without a reason';
  if (m['type'] !== 'listeners') return `handover reply: type must be "listeners" or "refused", got ${JSON.stringify(m['type'])}`;
  if (m['version'] !== HANDOVER_VERSION) return `handover reply: version ${JSON.stringify(m['version'])} is not ${HANDOVER_VERSION}`;
  if (m['node'] !== node) return `handover reply: from node ${JSON.stringify(m['node'])}, this agent serves ${JSON.stringify(node)}`;
  const entries = m['entries'];
  if (!Array.isArray(entries) || entries.length > MAX_FDS_PER_LINE) return `handover reply: entries must be a list of at most ${MAX_FDS_PER_LINE}`;
  const bad = entries.findIndex((e) => !isEntry(e));
  if (bad >= 0) return `handover reply: entry ${bad} malformed: ${JSON.stringify(entries[bad]).slice(0, 120)}`;
  if (typeof m['more'] !== 'boolean') return 'handover reply: more must be true or false';
  return { type: 'listeners', version: HANDOVER_VERSION, node, entries: entries as ListenerEntry[], more: m['more'] };
}

/**
 * Whether a whole takeover's entries make a usable listener set for this agent: every role
 * present, each on the port this agent is configured with (when it names one), data sets
 * numbered 0..n-1 each with one tunnel and at least one outbound and inbound listener.
 */
export function entriesProblem(entries: readonly ListenerEntry[], ports: RolePorts): string | undefined {
  if (entries.length === 0) return 'no listeners handed over';
  if (entries.length > MAX_ENTRIES) return `more than ${MAX_ENTRIES} listeners handed over`;
  for (const e of entries) {
    const want = ports[e.role];
    if (want !== 0 && e.port !== want) return `${e.role} listener on port ${e.port}, this agent is configured for ${want}`;
  }
  for (const role of OPS_ROLES) {
    const n = entries.filter((e) => e.role === role).length;
    if (n !== 1) return `${n} ${role} listeners handed over, expected 1`;
  }
  const sets = Math.max(...entries.filter((e) => !OPS_ROLES.includes(e.role)).map((e) => e.set), -1) + 1;
  if (sets === 0) return 'no data listeners handed over';
  for (let s = 0; s < sets; s++) {
    const of = (role: ListenerRole): number => entries.filter((e) => e.role === role && e.set === s).length;
    if (of('tunnel') !== 1) return `set ${s}: ${of('tunnel')} tunnel listeners, expected 1`;
    if (of('outbound') < 1 || of('outbound') > 2) return `set ${s}: ${of('outbound')} outbound listeners, expected 1 or 2`;
    if (of('inbound') < 1 || of('inbound') > 2) return `set ${s}: ${of('inbound')} inbound listeners, expected 1 or 2`;
  }
  return undefined;
}

/** A message as its line on the socket. */
export function encodeLine(msg: TakeoverRequest | HandoverReply | { readonly type: 'serving' }): Buffer {
  return Buffer.from(`${JSON.stringify(msg)}\n`);
}
