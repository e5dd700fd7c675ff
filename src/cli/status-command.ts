/**
 * `meshlet status`: this node's agent at a glance, from its admin API: versions, snapshot age,
 * workloads, connections, the soonest certificate expiry, capture rules, controller link,
 * readiness. Exits 2 when the node is unhealthy (so it can serve as a probe) and prints why;
 * 1 when the agent cannot be reached; 64 for a bad flag.
 */
import type { Command } from 'commander';
import { adminOptions, answerError, asObject, asRows, processIo, runAdminAction, withUsageExits, type AdminClient } from './admin-client.js';
import { nodeOptions, withAdmin, type NodeFlags } from './admin-session.js';
import { formatOutput, outputContext, outputOptions, paint, type OutputFlags, type OutputIo } from './output.js';
import { duration } from './proxy-config-command.js';
import { renderFields } from './table.js';

/** Exit code of an unhealthy node (1 is kept for "the agent cannot be reached"). */
export const EXIT_UNHEALTHY = 2;

/** A certificate is "expiring" once less than this share of its lifetime is left (it should have rotated). */
const EXPIRY_SHARE = 0.1;

/** What `status` read from the agent, decoded. */
export interface NodeStatus {
  readonly fields: Array<[string, string]>;
  /** Why the node is unhealthy; empty when healthy. */
  readonly problems: string[];
}

/** Flags of `status`. */
export interface StatusFlags extends NodeFlags, OutputFlags {}

/** Adds `meshlet status`. */
export function registerStatusCommand(program: Command, io: OutputIo = processIo): void {
  const cmd = nodeOptions(adminOptions(withUsageExits(program.command('status'), io)))
    .description("this node's (or --node NAME's) agent at a glance; exits 2 when unhealthy (usable as a probe), 1 when unreachable or the admin token is refused");
  outputOptions(cmd, 'status', { text: 'one line per field, then healthy or UNHEALTHY with the reasons' })
    .action((opts: StatusFlags) => runAdminAction(io, 'status', () => status(io, opts)));
}

/** Reads what `status` (and `check`) judge from the agent's admin API. */
export async function readStatusInput(client: AdminClient): Promise<{ base: string; input: StatusInput }> {
  const [dump, ready, iptables, connections, memory, usage] = await Promise.all(['/config_dump', '/ready', '/iptables', '/connections', '/memory', '/usage'].map((p) => client.get(p)));
  for (const [path, a] of [['/config_dump', dump], ['/iptables', iptables], ['/connections', connections]] as const) {
    if (a?.status !== 200) throw answerError(path, a ?? { status: 0, body: null });
  }
  const input: StatusInput = {
    dump: asObject('/config_dump', dump?.body),
    ready: asObject('/ready', ready?.body),
    iptables: asObject('/iptables', iptables?.body),
    connections: asRows('/connections', connections?.body).length,
    // An agent older than /memory answers 404: the line says so, the status stands.
    memory: memory?.status === 200 ? memory.body : undefined,
    // Likewise /usage (issue 18).
    usage: usage?.status === 200 ? usage.body : undefined,
  };
  return { base: client.base, input };
}

/** Runs `status`; answers the exit code. */
export async function status(io: OutputIo, opts: StatusFlags): Promise<number> {
  const ctx = outputContext(io, 'status', opts);
  const { base, input } = await withAdmin(opts, (s) => readStatusInput(s.client));
  const result = assess(input);
  io.stdout(formatOutput(ctx, statusView(base, input, result), () => {
    const head = `agent ${base}\n${renderFields(result.fields, { maxWidth: ctx.width })}`;
    if (result.problems.length === 0) return `${head}\n${paint(ctx.color, 'green', 'healthy')}\n`;
    return `${head}\n${paint(ctx.color, 'red', 'UNHEALTHY')}:\n${result.problems.map((p) => `  - ${p}\n`).join('')}`;
  }));
  return result.problems.length === 0 ? 0 : EXIT_UNHEALTHY;
}

/**
 * `status -o json|yaml`: the facts of the text lines as values (counts as numbers, the agent's
 * own objects as it sent them), the verdict and its reasons. Pure.
 */
export function statusView(base: string, input: StatusInput, result: NodeStatus): Record<string, unknown> {
  const { dump } = input;
  const snapshot = (dump['snapshot'] ?? {}) as Record<string, unknown>;
  const count = (v: unknown): number => (Array.isArray(v) ? v.length : 0);
  const certs = Array.isArray(dump['certificates']) ? (dump['certificates'] as Array<Record<string, unknown>>) : [];
  return {
    agent: base,
    healthy: result.problems.length === 0,
    problems: result.problems,
    agentVersion: typeof dump['agentVersion'] === 'string' ? dump['agentVersion'] : null,
    snapshot: { version: typeof dump['version'] === 'string' && dump['version'] !== '' ? dump['version'] : null, appliedAt: dump['appliedAt'] ?? null, ageSeconds: dump['ageSeconds'] ?? null },
    workloads: { local: count(snapshot['localWorkloads']), mesh: count(snapshot['workloads']) },
    services: count(snapshot['services']),
    connections: input.connections,
    memory: Array.isArray(input.memory) ? input.memory : null,
    usage: input.usage ?? null,
    certificates: certs.map((c) => ({ identity: c['identity'], notBefore: c['notBefore'], notAfter: c['notAfter'] })),
    iptables: input.iptables,
    controller: dump['controller'] ?? null,
    ready: input.ready,
    sourcePreservation: input.ready['sourcePreservation'] ?? null,
  };
}

/** The agent's answers, decoded; `now` for tests. */
export interface StatusInput {
  readonly dump: Record<string, unknown>;
  readonly ready: Record<string, unknown>;
  readonly iptables: Record<string, unknown>;
  readonly connections: number;
  /** `/memory`'s rows (undefined: not answered). */
  readonly memory?: unknown;
  /** `/usage`'s body (undefined: not answered). */
  readonly usage?: unknown;
  readonly now?: number;
}

/** Turns the answers into the lines to show and the problems that make the node unhealthy. */
export function assess(input: StatusInput): NodeStatus {
  const problems: string[] = [];
  const { dump } = input;
  const snapshot = (dump['snapshot'] ?? {}) as Record<string, unknown>;
  const len = (v: unknown): number => (Array.isArray(v) ? v.length : 0);
  const fields: Array<[string, string]> = [
    ['agent version', typeof dump['agentVersion'] === 'string' ? dump['agentVersion'] : 'unknown (not in /config_dump)'],
    ['snapshot', snapshotLine(dump, problems)],
    ['workloads', `${len(snapshot['localWorkloads'])} on this node, ${len(snapshot['workloads'])} in the mesh; ${len(snapshot['services'])} services`],
    ['connections', `${input.connections} open`],
    ['memory', memoryLine(input.memory)],
    ['agent usage', usageLine(input.usage)],
    ['certificates', certificatesLine(dump['certificates'], input.now ?? Date.now(), problems)],
    ['iptables', iptablesLine(input.iptables, problems)],
    ['controller', controllerLine(dump['controller'])],
    ['ready', readyLine(input.ready, problems)],
    ['source address', sourceLine(input.ready['sourcePreservation'])],
  ];
  return { fields, problems };
}

/** One judged line of `meshlet check` about the node's agent. */
export interface NodeCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * The node's agent as `meshlet check` lines: the snapshot, certificates, capture rules, the
 * controller link (in controller mode a lost link fails here, where `status` only shows it:
 * the agent keeps serving) and readiness; each fails for the reasons `status` calls unhealthy.
 */
export function nodeChecks(input: StatusInput): NodeCheck[] {
  const { dump } = input;
  const one = (name: string, line: (problems: string[]) => string): NodeCheck => {
    const problems: string[] = [];
    const detail = line(problems);
    return problems.length === 0 ? { name, ok: true, detail } : { name, ok: false, detail: problems.join('; ') };
  };
  const controller = dump['controller'] as { connected?: unknown } | undefined | null;
  return [
    one('snapshot', (p) => snapshotLine(dump, p)),
    one('certificates', (p) => certificatesLine(dump['certificates'], input.now ?? Date.now(), p)),
    one('capture rules', (p) => iptablesLine(input.iptables, p)),
    ...(controller === undefined || controller === null ? [] : [{ name: 'controller link', ok: controller.connected === true, detail: controllerLine(controller) }]),
    one('ready', (p) => readyLine(input.ready, p)),
  ];
}

const MIB = 1024 * 1024;

/** `a` or `a-b` in whole MiB. */
function mibRange(values: readonly number[]): string {
  const lo = Math.round(Math.min(...values) / MIB);
  const hi = Math.round(Math.max(...values) / MIB);
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}

/**
 * The primary's RSS (private part in brackets), the workers' as a range, and the private
 * memory of all the processes together: what the agent adds to the node (the rest of RSS is
 * the binary's pages, shared). One line whatever the number of workers.
 */
export function memoryLine(value: unknown): string {
  const rows = Array.isArray(value) ? (value as Array<Record<string, unknown>>) : [];
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const read = rows.flatMap((r) => {
    const rss = num(r['rss']);
    return rss === undefined || typeof r['process'] !== 'string' ? [] : [{ process: r['process'], rss, anon: num(r['rss_anon']) }];
  });
  const show = (rss: number[], anon: Array<number | undefined>): string => {
    const known = anon.filter((a): a is number => a !== undefined);
    return `${mibRange(rss)} MiB${known.length === anon.length ? ` (${mibRange(known)} private)` : ''}`;
  };
  const primary = read.filter((r) => r.process === 'agent');
  const workers = read.filter((r) => r.process !== 'agent');
  if (read.length === 0) return 'unknown (no /memory: an older agent)';
  const parts = primary.map((p) => `agent ${show([p.rss], [p.anon])}`);
  if (workers.length > 0) {
    parts.push(`${workers.length} worker${workers.length === 1 ? '' : 's'} ${show(workers.map((w) => w.rss), workers.map((w) => w.anon))}`);
    if (read.every((r) => r.anon !== undefined)) parts.push(`${Math.round(read.reduce((sum, r) => sum + (r.anon ?? 0), 0) / MIB)} MiB private in all`);
  }
  return parts.join('; ');
}

/** Workloads named at most on the usage line, busiest first. */
const USAGE_SHOWN = 3;

/**
 * The usage line: the busiest local workloads' share of the agent's CPU over the last few
 * seconds ("bench/flood is using 82% of the agent"), the workloads their share limit holds back
 * now and those their limits have throttled, from `/usage`. Pure.
 */
export function usageLine(value: unknown): string {
  if (value === undefined || value === null || typeof value !== 'object') return 'unknown (no /usage: an older agent)';
  const v = value as { dataPathCpuCores?: unknown; workloads?: unknown };
  const cores = typeof v.dataPathCpuCores === 'number' && Number.isFinite(v.dataPathCpuCores) ? v.dataPathCpuCores : 0;
  const rows = (Array.isArray(v.workloads) ? (v.workloads as Array<Record<string, unknown>>) : []).filter((w) => typeof w['share'] === 'number' && (w['share'] as number) > 0);
  const all = Array.isArray(v.workloads) ? (v.workloads as Array<Record<string, unknown>>) : [];
  const throttled = sharePart(all) + throttledPart(all);
  if (rows.length === 0) return `no workload traffic in the last seconds (data path ${cores.toFixed(2)} cores)${throttled}`;
  const pct = (w: Record<string, unknown>): string => `${Math.round((w['share'] as number) * 100)}%`;
  const name = (w: Record<string, unknown>): string => `${String(w['namespace'])}/${String(w['workload'])}`;
  const [first, ...rest] = rows.slice(0, USAGE_SHOWN) as [Record<string, unknown>, ...Array<Record<string, unknown>>];
  const others = rest.map((w) => `${name(w)} ${pct(w)}`);
  const more = rows.length > USAGE_SHOWN ? [`${rows.length - USAGE_SHOWN} more`] : [];
  return [`${name(first)} is using ${pct(first)} of the agent`, ...others, ...more].join(', ') + ` (data path ${cores.toFixed(2)} cores)${throttled}`;
}

/**
 * The workloads their `meshlet.io/max-agent-share` holds back now, lowest rate first:
 * "; held to its share now: demo/flood at 12.3 MB/s" (empty when none is).
 */
function sharePart(rows: ReadonlyArray<Record<string, unknown>>): string {
  const held = rows
    .filter((w) => typeof w['shareLimitBytesPerSecond'] === 'number' && (w['shareLimitBytesPerSecond'] as number) > 0)
    .sort((a, b) => (a['shareLimitBytesPerSecond'] as number) - (b['shareLimitBytesPerSecond'] as number));
  if (held.length === 0) return '';
  const shown = held.slice(0, USAGE_SHOWN).map((w) => `${String(w['namespace'])}/${String(w['workload'])} at ${((w['shareLimitBytesPerSecond'] as number) / 1e6).toFixed(1)} MB/s`);
  const more = held.length > USAGE_SHOWN ? [`${held.length - USAGE_SHOWN} more`] : [];
  return `; held to its share now: ${[...shown, ...more].join(', ')}`;
}

/**
 * The workloads their `meshlet.io/max-bandwidth` or `meshlet.io/max-agent-share` has held back
 * since the agent started, most throttled first: "; throttled by limits since start: demo/flood
 * 12.4 s" (empty when none was).
 */
function throttledPart(rows: ReadonlyArray<Record<string, unknown>>): string {
  const held = rows
    .filter((w) => typeof w['throttledSeconds'] === 'number' && (w['throttledSeconds'] as number) > 0)
    .sort((a, b) => (b['throttledSeconds'] as number) - (a['throttledSeconds'] as number));
  if (held.length === 0) return '';
  const shown = held.slice(0, USAGE_SHOWN).map((w) => `${String(w['namespace'])}/${String(w['workload'])} ${(w['throttledSeconds'] as number).toFixed(1)} s`);
  const more = held.length > USAGE_SHOWN ? [`${held.length - USAGE_SHOWN} more`] : [];
  return `; throttled by limits since start: ${[...shown, ...more].join(', ')}`;
}

function snapshotLine(dump: Record<string, unknown>, problems: string[]): string {
  const version = typeof dump['version'] === 'string' ? dump['version'] : '';
  if (version === '' || dump['appliedAt'] === null || dump['appliedAt'] === undefined) {
    problems.push('no snapshot applied yet (static: check --config; controller: check the link below)');
    return 'none';
  }
  const age = typeof dump['ageSeconds'] === 'number' ? duration(dump['ageSeconds']) : '?';
  return `${version}, applied ${age} ago (${String(dump['appliedAt'])})`;
}

function certificatesLine(value: unknown, now: number, problems: string[]): string {
  const certs = Array.isArray(value) ? (value as Array<Record<string, unknown>>) : [];
  if (certs.length === 0) return 'none';
  let soonest: { identity: string; left: number; lifetime: number } | undefined;
  for (const c of certs) {
    const notBefore = Date.parse(String(c['notBefore']));
    const notAfter = Date.parse(String(c['notAfter']));
    const left = Math.floor((notAfter - now) / 1000);
    if (!Number.isFinite(left)) continue;
    if (soonest === undefined || left < soonest.left) soonest = { identity: String(c['identity']), left, lifetime: (notAfter - notBefore) / 1000 };
  }
  if (soonest === undefined) return `${certs.length}, expiry unreadable`;
  const { identity, left, lifetime } = soonest;
  if (left <= 0) problems.push(`certificate of ${identity} expired ${duration(-left)} ago`);
  else if (left < lifetime * EXPIRY_SHARE) problems.push(`certificate of ${identity} expires in ${duration(left)}, under ${EXPIRY_SHARE * 100}% of its lifetime: rotation is failing (check the signer / controller)`);
  return `${certs.length}; soonest expiry in ${duration(left)} (${left} s): ${identity}`;
}

function iptablesLine(ipt: Record<string, unknown>, problems: string[]): string {
  if (ipt['managed'] !== true) return 'not managed by the agent (--no-iptables)';
  if (ipt['inSync'] === true) return 'in sync';
  const detail = (ipt['detail'] ?? {}) as Record<string, { missing?: unknown; unexpected?: unknown }>;
  const parts = Object.entries(detail)
    .filter(([, d]) => len(d?.missing) + len(d?.unexpected) > 0)
    .map(([family, d]) => `${family} ${len(d.missing)} missing, ${len(d.unexpected)} unexpected`);
  const what = parts.length > 0 ? parts.join('; ') : 'differs';
  problems.push(`capture rules drifted (${what}): GET /iptables on the admin API lists the rules`);
  return `DRIFTED: ${what}`;
}

function len(v: unknown): number {
  return Array.isArray(v) ? v.length : 0;
}

function controllerLine(value: unknown): string {
  if (value === undefined || value === null) return 'unknown (not exposed by the admin API)';
  const c = value as { connected?: unknown; address?: unknown; lastError?: unknown };
  if (c.connected === true) return `connected${typeof c.address === 'string' ? ` to ${c.address}` : ''}`;
  return `NOT connected${typeof c.lastError === 'string' ? `: ${c.lastError}` : ''}`;
}

/** Whether workloads see their clients' addresses (`/ready`'s `sourcePreservation`; absent from older agents). */
export function sourceLine(value: unknown): string {
  if (value === undefined || value === null) return 'unknown (not in /ready)';
  const p = value as { configured?: unknown; active?: unknown; reason?: unknown };
  if (p.active === true) return "preserved: workloads see their clients' addresses (L4)";
  if (p.configured === 'off') return "off (--preserve-source off): workloads see the node's address";
  return `NOT preserved: ${typeof p.reason === 'string' ? p.reason : 'unknown reason'}`;
}

function readyLine(ready: Record<string, unknown>, problems: string[]): string {
  if (ready['ready'] === true) return 'yes';
  const pending = Array.isArray(ready['pending']) ? ready['pending'].map(String) : [];
  const what = pending.length > 0 ? pending.join(', ') : 'unknown';
  problems.push(`not ready: waiting for ${what}`);
  return `NO: waiting for ${what}`;
}
