/**
 * `meshlet proxy-config resilience` as tables, from the agent's `/resilience` answer: one row
 * per Service port per worker process (the configuration in force beside the live counters:
 * the breaker's requests in flight against its threshold, the retry budget's retries available
 * now), one row per route with a policy or its own retry/timeouts, then the destination side's
 * adaptive concurrency limits and the routes' mirrors. `-o json` shows the whole answer.
 */
import { asObject, asRows } from './admin-client.js';
import { renderTable } from './table.js';

const PATH = '/resilience';

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

/** `req 2s conn 500ms` from a `timeout` section and/or a route rule's `timeouts`. */
export function timeoutCell(timeout: unknown, ruleTimeouts: readonly unknown[] = []): string {
  const t = obj(timeout);
  const parts: string[] = [];
  if (has(t['requestMs'])) parts.push(`req ${ms(t['requestMs'])}`);
  if (has(t['connectMs'])) parts.push(`conn ${ms(t['connectMs'])}`);
  for (const rt of ruleTimeouts.map(obj)) {
    if (has(rt['requestMs'])) parts.push(`req ${ms(rt['requestMs'])}`);
    if (has(rt['backendRequestMs'])) parts.push(`try ${ms(rt['backendRequestMs'])}`);
  }
  return parts.length === 0 ? '-' : [...new Set(parts)].join(' ');
}

/** `3 5xx,reset` (retries and triggers; codes when it retries listed statuses) from a `retry` section. */
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

/** `0.2/10, 12`: ratio/minPerSecond from the section, then the retries available now at this process. */
export function budgetCell(budget: unknown, live: Row | undefined): string {
  const b = obj(budget);
  const config = has(budget) ? `${num(b['ratio'])}/${num(b['minPerSecond'])}` : '-';
  const now = live === undefined ? undefined : obj(live['retryBudget'])['available'];
  return has(now) ? `${config}, ${num(now)}` : config;
}

/** `3/1024 r1/3`: requests in flight / max, retries in flight / max (`-` for no threshold). */
export function breakerCell(breaker: unknown, live: Row | undefined): string {
  if (!has(breaker) && live === undefined) return '-';
  const b = obj(breaker);
  const max = (f: string): string => (has(breaker) ? num(b[f]) : '-');
  const now = (f: string): string => (live === undefined ? '-' : num(live[f]));
  const pending = live !== undefined && Number(live['pending']) > 0 ? ` p${num(live['pending'])}/${max('maxPendingRequests')}` : '';
  return `${now('requests')}/${max('maxRequests')} r${now('retries')}/${max('maxRetries')}${pending}`;
}

/** `p95>=20ms x1`. */
export function hedgeCell(hedge: unknown): string {
  if (!has(hedge)) return '-';
  const h = obj(hedge);
  return `p${num(h['percentile'])}>=${ms(h['minDelayMs'])} x${num(h['maxHedges'])}`;
}

/** `abort 503 10% delay 100ms 5% tcp-reset 5%`. */
export function faultCell(fault: unknown, tcpFault: unknown): string {
  const parts: string[] = [];
  const f = obj(fault);
  const abort = obj(f['abort']);
  const delay = obj(f['delay']);
  if (has(f['abort'])) parts.push(`abort ${num(abort['httpStatus'])} ${num(abort['percent'])}%`);
  if (has(f['delay'])) parts.push(`delay ${ms(delay['ms'])} ${num(delay['percent'])}%`);
  if (list(f['headers']).length > 0) parts.push('(headers)');
  const t = obj(tcpFault);
  const tdelay = obj(t['delay']);
  if (has(t['delay'])) parts.push(`tcp-delay ${ms(tdelay['ms'])} ${num(tdelay['percent'])}%`);
  if (Number(t['resetPercent']) > 0) parts.push(`tcp-reset ${num(t['resetPercent'])}%`);
  return parts.length === 0 ? '-' : parts.join(' ');
}

/** `100/1s,10/1s/src`: each rule's requests per period (`/src`: a bucket per source). */
export function rateLimitCell(rateLimit: unknown): string {
  const rules = list(obj(rateLimit)['rules']).map(obj);
  if (rules.length === 0) return '-';
  return rules.map((r) => `${num(r['requests'])}/${ms(r['periodMs'])}${r['perSource'] === true ? '/src' : ''}`).join(',');
}

function sectionCells(policy: unknown, s: Row, live: Row | undefined, ruleTimeouts: readonly unknown[] = []): string[] {
  return [
    typeof policy === 'string' ? policy : '-',
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
      if (at.length === 0) rows.push([key, ...sectionCells(svc['policy'], s, undefined), '-']);
      for (const l of at) rows.push([key, ...sectionCells(svc['policy'], s, l), num(l['worker'])]);
    }
  }
  return rows;
}

/** One row per route: its policy's sections, its rules' own retry and timeouts. */
function routeRows(routes: readonly Row[]): string[][] {
  return routes.map((route) => {
    const rules = list(route['rules']).map(obj);
    const cells = sectionCells(route['policy'], obj(route['sections']), undefined, rules.map((r) => r['timeouts']).filter(has));
    const own = rules.filter((r) => has(r['retry'])).map((r) => routeRetryCell(obj(r['retry'])));
    if (cells[2] === '-' && own.length > 0) cells[2] = own.join(';');
    return [String(route['route']), ...cells, '-'];
  });
}

/** The adaptive limits and mirrors after the main table, each only when there is one. */
function extraTables(body: Row, routes: readonly Row[]): string {
  let out = '';
  const limits = asRows(PATH, body['adaptiveLimits'] ?? []);
  if (limits.length > 0) {
    out += `\nadaptive concurrency (destination side)\n${renderTable(['WORKLOAD', 'PORT', 'LIMIT', 'WORKER'], limits.map((l) => [String(l['workload']), num(l['port']), num(l['limit']), num(l['worker'])]))}`;
  }
  const mirrors = routes.flatMap((route) =>
    list(route['rules']).map(obj).flatMap((rule) => list(rule['mirrors']).map(obj).map((m) => [String(route['route']), num(rule['rule']), String(m['backend']), `${num(m['percent'])}%`, has(m['invalid']) ? String(m['invalid']) : ''])),
  );
  if (mirrors.length > 0) out += `\nmirrors\n${renderTable(['ROUTE', 'RULE', 'BACKEND', 'PERCENT', 'UNRESOLVED'], mirrors)}`;
  return out;
}

/** The whole text of `proxy-config resilience` (table format). */
export function resilienceTable(answer: unknown): string {
  const body = asObject(PATH, answer);
  const routes = asRows(PATH, body['routes'] ?? []);
  let out = renderTable(RESILIENCE_COLUMNS, [...serviceRows(body), ...routeRows(routes)]);
  out += extraTables(body, routes);
  if (body['live'] === false) out += '\n(live state unavailable: configuration only)\n';
  return out;
}
