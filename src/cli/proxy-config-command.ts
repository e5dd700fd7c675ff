/**
 * `meshlet proxy-config workloads|services|routes|endpoints|connections|certs|policies|resilience|config`: what the agent on this
 * node holds, read from its admin API, as an aligned table (default, fitted to the terminal,
 * never cut through a pipe), JSON or YAML. JSON and YAML show every field the agent sends; the
 * table picks the ones an SRE scans for.
 */
import type { Command } from 'commander';
import { MeshletError } from '../mesh/errors.js';
import { adminOptions, answerError, asObject, asRows, processIo, runAdminAction, withUsageExits } from './admin-client.js';
import { nodeOptions, withAdmin, type NodeFlags } from './admin-session.js';
import { formatOutput, outputContext, outputOptions, type OutputFlags, type OutputIo } from './output.js';
import { resilienceTable } from './resilience-table.js';
import { renderFields, renderTable, type TableOptions } from './table.js';
import { formatBandwidth } from '../mesh/objects/workload-limits.js';

/** A table: which field goes in which column, and how a value is shown. */
interface View {
  readonly path: string;
  /** Header, field, how to show the field's value (or, with field '', the whole row). */
  readonly columns: ReadonlyArray<readonly [header: string, field: string, show?: (v: unknown) => string]>;
}

const VIEWS: Readonly<Record<string, View>> = {
  workloads: {
    path: '/workloads',
    columns: [['UID', 'uid'], ['ADDRESSES', 'addresses'], ['NODE', 'node'], ['IDENTITY', 'identity'], ['TLS', 'tlsMode'], ['LOCAL', 'local', (v) => (v === true ? 'yes' : '')], ['MAX CONN', 'maxConnections'], ['MAX BW', 'maxBandwidth', (v) => (typeof v === 'number' ? `${formatBandwidth(v)}bit/s` : '')], ['MAX SHARE', 'maxAgentShare', (v) => (typeof v === 'number' ? `${v}%` : '')]],
  },
  services: {
    path: '/services',
    columns: [['SERVICE', 'key'], ['VIPS', 'vips'], ['PORTS', 'ports'], ['ENDPOINTS', 'endpoints']],
  },
  routes: {
    path: '/routes',
    columns: [
      ['ROUTE', 'route'], ['KIND', 'kind'], ['PARENTS', 'parents'], ['RULES', 'rules'], ['BACKENDS', 'backends'],
      ['ACCEPTED', 'accepted'], ['RESOLVED', 'resolvedRefs'], ['REASON', 'reason'],
    ],
  },
  endpoints: {
    path: '/endpoints',
    columns: [
      ['SERVICE PORT', 'servicePort'], ['LB', 'algorithm'], ['ENDPOINT', 'endpoint'], ['WORKLOAD', 'workload'], ['ZONE', 'zone'],
      ['WEIGHT', 'weight'], ['OUTSTANDING', 'outstanding'], ['EWMA', 'ewmaMs', (v) => (v === '' || v === undefined ? '-' : `${Number(v).toFixed(1)}ms`)],
      ['EJECTED', '', ejectedCell], ['OUTLIER', '', outlierCell], ['WORKER', 'worker'],
    ],
  },
  connections: {
    path: '/connections',
    columns: [
      ['ID', 'id'], ['DIR', 'direction'], ['MODE', 'mode'], ['SOURCE', 'source'], ['DESTINATION', 'destination'],
      ['WORKLOADS', '', workloads], ['POLICY', 'securityPolicy'],
      ['SENT', 'bytesSent', bytes], ['RECV', 'bytesReceived', bytes], ['AGE', 'ageSeconds', (v) => duration(Number(v))],
    ],
  },
  certs: {
    path: '/certs',
    columns: [['IDENTITY', 'identity'], ['SERIAL', 'serial'], ['NOT AFTER', 'notAfter'], ['LEFT', 'secondsLeft', (v) => duration(Number(v))]],
  },
};

/** The kinds `proxy-config` shows (`policies`, `resilience` and `config` answer an object, not a list). */
export const PROXY_CONFIG_KINDS = [...Object.keys(VIEWS), 'policies', 'resilience', 'config'] as const;

/** Paths of the kinds that answer an object. */
const OBJECT_PATHS: Readonly<Record<string, string>> = { policies: '/policies', resilience: '/resilience', config: '/config_dump' };

/** `/policies`' table columns: one row per local workload and policy in force. */
const POLICY_COLUMNS: ReadonlyArray<readonly [header: string, field: string]> = [
  ['WORKLOAD', 'workload'], ['POLICY', 'policy'], ['ACTION', 'action'], ['BY', 'selectedBy'], ['RULES', 'rules'], ['L7', 'l7'], ['PORTS', 'ports'],
];

/** Flags of `proxy-config`. */
export interface ProxyConfigOptions extends NodeFlags, OutputFlags {}

/** Adds `meshlet proxy-config`. */
export function registerProxyConfigCommand(program: Command, io: OutputIo = processIo): void {
  const cmd = nodeOptions(adminOptions(withUsageExits(program.command('proxy-config'), io)))
    .description(
      "what this node's (or --node NAME's) agent holds: workloads, services, routes (HTTPRoute/GRPCRoute with their conditions), endpoints (with their balancing state), connections, certs, " +
        'policies (AuthorizationPolicies in force per local workload), resilience (timeouts, retries and budgets, breakers, hedging, faults, rate limits in force, ' +
        'with live counters per Service port and worker process), or its config (snapshot)',
    )
    .argument('<kind>', PROXY_CONFIG_KINDS.join('|'));
  outputOptions(cmd, 'proxy-config', { text: 'a table fitted to the terminal' })
    .action((kind: string, opts: ProxyConfigOptions) => runAdminAction(io, 'proxy-config', () => proxyConfig(io, kind, opts)));
}

/** Runs `proxy-config KIND`; answers the exit code. */
export async function proxyConfig(io: OutputIo, kind: string, opts: ProxyConfigOptions): Promise<number> {
  if (!(PROXY_CONFIG_KINDS as readonly string[]).includes(kind)) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `kind ${JSON.stringify(kind)}: must be one of ${PROXY_CONFIG_KINDS.join(', ')}`);
  }
  const ctx = outputContext(io, 'proxy-config', opts);
  const view = VIEWS[kind];
  const path = view?.path ?? OBJECT_PATHS[kind] ?? '/config_dump';
  const answer = await withAdmin(opts, (s) => s.client.get(path));
  if (answer.status !== 200) throw answerError(path, answer);
  const table: TableOptions = { maxWidth: ctx.width };
  io.stdout(formatOutput(ctx, answer.body, () => {
    if (kind === 'policies') return policiesTable(asObject(path, answer.body), table);
    if (kind === 'resilience') return resilienceTable(answer.body, table);
    if (view === undefined) return configTable(asObject(path, answer.body), table);
    return listTable(view, asRows(path, answer.body), table);
  }));
  return 0;
}

function listTable(view: View, rows: ReadonlyArray<Record<string, unknown>>, table: TableOptions): string {
  const headers = view.columns.map(([h]) => h);
  const cells = rows.map((r) => view.columns.map(([, field, show]) => (show ?? cell)(field === '' ? r : r[field])));
  return renderTable(headers, cells, table);
}

/**
 * `policies` as a table: each local workload's policies in evaluation order, a workload no
 * policy selects on a row of its own (every connection to it is allowed), then the mesh's
 * policy status lines when the agent has them.
 */
function policiesTable(body: Record<string, unknown>, table: TableOptions): string {
  const rows = asRows('/policies', body['policies'] ?? []);
  const without = Array.isArray(body['withoutPolicy']) ? body['withoutPolicy'].map(String) : [];
  const cells = rows.map((r) => POLICY_COLUMNS.map(([, field]) => (field === 'l7' ? (r[field] === true ? 'yes' : 'no') : cell(r[field]))));
  for (const w of without) cells.push([w, '(none: all allowed)', '', '', '', '', '']);
  cells.sort((a, b) => (a[0] ?? '').localeCompare(b[0] ?? ''));
  let out = renderTable(POLICY_COLUMNS.map(([h]) => h), cells, table);
  const status = Array.isArray(body['status']) ? body['status'].map(String) : [];
  if (status.length > 0) out += `\n${status.map((l) => `! ${l}`).join('\n')}\n`;
  return out;
}

/** `config` as a table: the summary an SRE wants; `-o yaml` shows the whole snapshot. */
function configTable(dump: Record<string, unknown>, table: TableOptions): string {
  const snapshot = (dump['snapshot'] ?? {}) as Record<string, unknown>;
  const count = (v: unknown): string => (Array.isArray(v) ? String(v.length) : '?');
  const listeners = (dump['listeners'] ?? null) as Record<string, unknown> | null;
  const fields: Array<[string, string]> = [
    ['version', cell(dump['version']) || '(none)'],
    ['applied at', cell(dump['appliedAt']) || '(never)'],
    ['age', dump['ageSeconds'] === null ? '-' : duration(Number(dump['ageSeconds']))],
    ['node', cell(snapshot['node'])],
    ['trust domain', cell(snapshot['trustDomain'])],
    ['local workloads', count(snapshot['localWorkloads'])],
    ['workloads', count(snapshot['workloads'])],
    ['services', count(snapshot['services'])],
    ['certificates', count(dump['certificates'])],
  ];
  for (const [name, value] of Object.entries(listeners ?? {})) fields.push([`listener ${name}`, addresses(value)]);
  return `${renderFields(fields, table)}(-o yaml or -o json for the whole snapshot)\n`;
}

/** A listener's bound address(es), `host:port`. */
function addresses(value: unknown): string {
  const list = Array.isArray(value) ? value : [value];
  return list
    .map((a) => {
      const { address, port } = (a ?? {}) as { address?: unknown; port?: unknown };
      return String(address).includes(':') ? `[${String(address)}]:${String(port)}` : `${String(address)}:${String(port)}`;
    })
    .join(', ');
}

/** An ejection in force: time left, and its whole length when known (`12s/30s`); empty otherwise. */
export function ejectedCell(row: unknown): string {
  const r = (row ?? {}) as Record<string, unknown>;
  const left = Number(r['ejectedSeconds']);
  if (!(left > 0)) return '';
  const total = Number(r['ejectionSeconds']);
  return total > 0 ? `${duration(left)}/${duration(total)}` : duration(left);
}

/**
 * Outlier detection's counters, only those that say something: consecutive 5xx and gateway
 * errors, the last success rate, ejections so far (`5xx:3 gw:3 sr:62.5% ej:2`); empty for a
 * Service without passive health or an endpoint with nothing to report.
 */
export function outlierCell(row: unknown): string {
  const r = (row ?? {}) as Record<string, unknown>;
  const parts: string[] = [];
  const count = (field: string, label: string): void => {
    const n = Number(r[field]);
    if (r[field] !== '' && r[field] !== undefined && n > 0) parts.push(`${label}:${n}`);
  };
  count('consecutive5xx', '5xx');
  count('consecutiveGatewayErrors', 'gw');
  const sr = r['successRate'];
  if (sr !== '' && sr !== undefined && Number.isFinite(Number(sr))) parts.push(`sr:${Number(sr).toFixed(1)}%`);
  count('ejectionsTotal', 'ej');
  return parts.join(' ');
}

/** A connection's two workloads in one column, `source -> destination` (`-` for outside the mesh). */
function workloads(row: unknown): string {
  const r = row as Record<string, unknown>;
  return `${cell(r['sourceWorkload']) || '-'} -> ${cell(r['destinationWorkload']) || '-'}`;
}

/** A cell's text: strings as they are, numbers and booleans printed, nothing as empty. */
function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Bytes in B/KiB/MiB/GiB, one decimal above bytes. */
export function bytes(v: unknown): string {
  let n = Number(v);
  if (!Number.isFinite(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return i === 0 ? `${n}B` : `${n.toFixed(1)}${units[i] ?? ''}`;
}

/** Seconds as `45s`, `12m3s`, `5h2m`, `3d4h`; negative as `-…` (an expired certificate). */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '';
  if (seconds < 0) return `-${duration(-seconds)}`;
  const s = Math.floor(seconds);
  if (s < 60) return `${Number.isInteger(seconds) ? s : seconds.toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}
