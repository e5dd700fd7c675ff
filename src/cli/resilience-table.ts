/**
 * `meshlet proxy-config resilience` as tables, from the agent's `/resilience` answer: one row
 * per Service port per worker process (the configuration in force beside the live counters:
 * the breaker's requests in flight against its threshold, the retry budget's retries available
 * now), one row per route with a policy or its own retry/timeouts, then the destination side's
 * adaptive concurrency limits and the routes' mirrors. `-o json` shows the whole answer.
 */
import { asObject, asRows } from './admin-client.js';
import { renderTable, type TableOptions } from './table.js';

const PATH = '/resilience';
/** The widest the SERVICE PORT column is kept whole (a short `ns/name|port`): wider, the sections would be cut to a letter or two. */
const MAX_KEY_COLUMN = 16;

type Row = Record<string, unknown>;

/** The table's columns, in order. */
export const RESILIENCE_COLUMNS = ['SERVICE PORT', 'POLICY', 'TIMEOUT', 'RETRY', 'BUDGET', 'BREAKER', 'HEDGE', 'FAULT', 'RATE LIMIT', 'WORKER'] as const;

const obj = (v: unknown): Row => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Row) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const has = (v: unknown): boolean => v !== undefined && v !== null;
const num = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? String(v) : '?');

/** Milliseconds as `250ms`, `2s`, `1.5s`, `2m`. */
export function ms(v: unknown): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '?';
  if (v < 1000) return `${v}ms`;
  if (v < 60_000 || v % 60_000 !== 0) return `${Math.round(v / 100) / 10}s`;
  return `${v / 60_000}m`;
}

/** The request timeout (`2s`) from a `timeout` section and/or route rules' `timeouts` (connect and idle: `-o yaml`). */
export function timeoutCell(timeout: unknown, ruleTimeouts: readonly unknown[] = []): string {
  const all = [obj(timeout)['requestMs'], ...ruleTimeouts.map((rt) => obj(rt)['requestMs'])].filter(has);
  return all.length === 0 ? '-' : [...new Set(all.map(ms))].join(',');
}

/** `3 5xx,reset,409` (retries, triggers, then the statuses retried under retriable-status-codes) from a `retry` section. */
export function retryCell(retry: unknown): string {
  if (!has(retry)) return '-';
  const r = obj(retry);
  const triggers = list(r['triggers']).map(String);
  const codes = list(r['statusCodes']).map(String);
  return `${num(r['retries'])} ${[...triggers.filter((x) => x !== 'retriable-status-codes'), ...codes].join(',')}`.trim();
}

/** A route rule's Gateway API retry: `2 503,504`. */
function routeRetryCell(retry: Row): string {
  return `${has(retry['attempts']) ? num(retry['attempts']) : '?'} ${list(retry['codes']).map(String).join(',')}`.trim();
}

/** `0.2/10,12`: ratio/minPerSecond from the section, then the retries available now at this process. */
export function budgetCell(budget: unknown, live: Row | undefined): string {
  const b = obj(budget);
  const config = has(budget) ? `${num(b['ratio'])}/${num(b['minPerSecond'])}` : '-';
  const now = live === undefined ? undefined : obj(live['retryBudget'])['available'];
  return has(now) ? `${config},${num(now)}` : config;
}

/**
 * `7/100`: requests in flight at this process / the breaker's maxRequests (`-` where there is
 * no live state or no threshold); `+r1` and `+p2` when retries or tries waiting are in flight.
 */
export function breakerCell(breaker: unknown, live: Row | undefined): string {
  if (!has(breaker) && live === undefined) return '-';
  const max = has(breaker) ? num(obj(breaker)['maxRequests']) : '-';
  const now = live === undefined ? '-' : num(live['requests']);
  const extra = (f: string, tag: string): string => (live !== undefined && Number(live[f]) > 0 ? ` +${tag}${num(live[f])}` : '');
  return `${now}/${max}${extra('retries', 'r')}${extra('pending', 'p')}`;
}

/** `p95>=20ms` (`x2` when it may hedge twice). */
export function hedgeCell(hedge: unknown): string {
  if (!has(hedge)) return '-';
  const h = obj(hedge);
  return `p${num(h['percentile'])}>=${ms(h['minDelayMs'])}${Number(h['maxHedges']) > 1 ? ` x${num(h['maxHedges'])}` : ''}`;
}

/** `503@10%,+100ms@5%,rst@2%`: abort status, delay, TCP delay and reset, each with its share; `?` when only some requests (headers) qualify. */
export function faultCell(fault: unknown, tcpFault: unknown): string {
  const parts: string[] = [];
  const f = obj(fault);
  const abort = obj(f['abort']);
  const delay = obj(f['delay']);
  const when = list(f['headers']).length > 0 ? '?' : '';
  if (has(f['abort'])) parts.push(`${num(abort['httpStatus'])}@${num(abort['percent'])}%${when}`);
  if (has(f['delay'])) parts.push(`+${ms(delay['ms'])}@${num(delay['percent'])}%${when}`);
  const t = obj(tcpFault);
  const tdelay = obj(t['delay']);
  if (has(t['delay'])) parts.push(`tcp+${ms(tdelay['ms'])}@${num(tdelay['percent'])}%`);
  if (Number(t['resetPercent']) > 0) parts.push(`rst@${num(t['resetPercent'])}%`);
  return parts.length === 0 ? '-' : parts.join(',');
}

/** `100/1s+1`: the first rule's requests per period (`/src`: a bucket per source), `+N` more rules. */
export function rateLimitCell(rateLimit: unknown): string {
  const rules = list(obj(rateLimit)['rules']).map(obj);
  const first = rules[0];
  if (first === undefined) return '-';
  return `${num(first['requests'])}/${ms(first['periodMs'])}${first['perSource'] === true ? '/src' : ''}${rules.length > 1 ? `+${rules.length - 1}` : ''}`;
}

/** A policy's name, without its namespace when it is the Service's or route's own. */
function policyCell(policy: unknown, owner: string): string {
  if (typeof policy !== 'string') return '-';
  const ns = owner.split('/').at(-2) ?? '';
  return policy.startsWith(`${ns}/`) ? policy.slice(ns.length + 1) : policy;
}

function sectionCells(policy: string, s: Row, live: Row | undefined, ruleTimeouts: readonly unknown[] = []): string[] {
  return [
    policy,
    timeoutCell(s['timeout'], ruleTimeouts),
    retryCell(s['retry']),
    budgetCell(s['retryBudget'], live),
    breakerCell(s['circuitBreaker'], live),
    hedgeCell(s['hedge']),
    faultCell(s['fault'], s['tcpFault']),
    rateLimitCell(s['rateLimit']),
  ];
}

/** One row per Service port per process with live state there (one row with WORKER `-` when none). */
function serviceRows(body: Row): string[][] {
  const live = new Map<string, Row[]>();
  for (const r of asRows(PATH, body['servicePorts'] ?? [])) {
    const key = String(r['servicePort']);
    live.set(key, [...(live.get(key) ?? []), r]);
  }
  const rows: string[][] = [];
  for (const svc of asRows(PATH, body['services'] ?? [])) {
    const s = obj(svc['sections']);
    for (const port of list(svc['ports'])) {
      const key = `${String(svc['service'])}|${String(port)}`;
      const at = live.get(key) ?? [];
      const policy = policyCell(svc['policy'], key);
      if (at.length === 0) rows.push([key, ...sectionCells(policy, s, undefined), '-']);
      for (const l of at) rows.push([key, ...sectionCells(policy, s, l), num(l['worker'])]);
    }
  }
  return rows;
}

/** One row per route: its policy's sections, its rules' own retry and timeouts. */
function routeRows(routes: readonly Row[]): string[][] {
  return routes.map((route) => {
    const rules = list(route['rules']).map(obj);
    const cells = sectionCells(policyCell(route['policy'], String(route['route'])), obj(route['sections']), undefined, rules.map((r) => r['timeouts']).filter(has));
    const own = rules.filter((r) => has(r['retry'])).map((r) => routeRetryCell(obj(r['retry'])));
    if (cells[2] === '-' && own.length > 0) cells[2] = own.join(';');
    return [String(route['route']), ...cells, '-'];
  });
}

/** The adaptive limits and mirrors after the main table, each only when there is one. */
function extraTables(body: Row, routes: readonly Row[], table: TableOptions): string {
  let out = '';
  const limits = asRows(PATH, body['adaptiveLimits'] ?? []);
  if (limits.length > 0) {
    out += `\nadaptive concurrency (destination side)\n${renderTable(['WORKLOAD', 'PORT', 'LIMIT', 'WORKER'], limits.map((l) => [String(l['workload']), num(l['port']), num(l['limit']), num(l['worker'])]), table)}`;
  }
  const mirrors = routes.flatMap((route) =>
    list(route['rules']).map(obj).flatMap((rule) => list(rule['mirrors']).map(obj).map((m) => [String(route['route']), num(rule['rule']), String(m['backend']), `${num(m['percent'])}%`, has(m['invalid']) ? String(m['invalid']) : ''])),
  );
  if (mirrors.length > 0) out += `\nmirrors\n${renderTable(['ROUTE', 'RULE', 'BACKEND', 'PERCENT', 'UNRESOLVED'], mirrors, table)}`;
  return out;
}

/** The main table's cells, one row per Service port per process, then one per route (before fitting to the width). */
export function resilienceCells(answer: unknown): string[][] {
  const body = asObject(PATH, answer);
  return [...serviceRows(body), ...routeRows(asRows(PATH, body['routes'] ?? []))];
}

/** The whole text of `proxy-config resilience` (table format), fitted to `table.maxWidth` (default 100). */
export function resilienceTable(answer: unknown, table: TableOptions = {}): string {
  const body = asObject(PATH, answer);
  const routes = asRows(PATH, body['routes'] ?? []);
  const cells = resilienceCells(body);
  // A header's width is the floor its column is cut to (table.ts): the SERVICE PORT header,
  // padded to the longest key, keeps the keys whole while the section columns give way.
  const keyWidth = Math.min(MAX_KEY_COLUMN, Math.max(0, ...cells.map((r) => (r[0] ?? '').length)));
  const headers = RESILIENCE_COLUMNS.map((h, i) => (i === 0 ? h.padEnd(keyWidth) : h));
  let out = renderTable(headers, cells, table);
  out += extraTables(body, routes, table);
  const pids = list(body['processes']).map(num);
  if (body['live'] === false) out += '\n(live state unavailable: configuration only)\n';
  else if (pids.length > 0) out += `\nlive state of process${pids.length > 1 ? 'es' : ''} ${pids.join(', ')}\n`;
  return `${out}\n(-o yaml or -o json for every field of every section)\n`;
}
