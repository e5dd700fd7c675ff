/**
 * The `faultInjection` and `rateLimit` sections of a TrafficPolicy `spec`, compiled into
 * {@link FaultPolicy}, {@link TcpFaultPolicy} and {@link RateLimitPolicy} (`resilience.ts`).
 * Names follow Envoy Gateway's BackendTrafficPolicy; `faultInjection.headers`,
 * `faultInjection.tcp`, `perSource` and `sourcePrincipals` are meshlet's.
 */
import { parseSpiffeId } from '../identity.js';
import { checkFields, optBool, optEnum, optInt, requireField } from '../validate/readers.js';
import type { ProblemSink } from '../validate/problems.js';
import { type FieldPath, type Fields, formatValue, isFields } from '../validate/values.js';
import type { FaultPolicy, RateLimitPolicy, RateLimitRule, ResiliencePolicy, TcpFaultPolicy } from '../resilience.js';
import { boundedList, HOUR_MS, MAX_HEADER_CONDITIONS, MINUTE_MS, optDuration, optPercent, optSection, readHeaderConditions, SECOND_MS } from './traffic-policy-readers.js';

/** Rate-limit rules per policy: each is a token bucket per request checked, so keep them few. */
export const MAX_RATE_LIMIT_RULES = 64;
/** Client selectors per rule, and source principals per selector. */
export const MAX_CLIENT_SELECTORS = 8;
export const MAX_SOURCE_PRINCIPALS = 64;
/** Largest `limit.requests` (a bucket that never empties is no limit). */
export const MAX_RATE_LIMIT_REQUESTS = 1_000_000_000;
/** Longest injected delay: a fault, not a hang. */
export const MAX_FAULT_DELAY_MS = HOUR_MS;
/** Rate-limit units and their periods. */
export const RATE_LIMIT_UNITS: Readonly<Record<string, number>> = { Second: SECOND_MS, Minute: MINUTE_MS, Hour: HOUR_MS };
/** The HTTP status of an abort that names only a gRPC status (for requests that are not gRPC). */
export const DEFAULT_ABORT_HTTP_STATUS = 503;

type Delay = { readonly ms: number; readonly percent: number };

/** `faultInjection`: the HTTP fault (`fault`) and the TCP one (`tcpFault`); on a route, HTTP only. */
export function readFault(r: ProblemSink, spec: Fields, path: FieldPath, route: boolean): Pick<ResiliencePolicy, 'fault' | 'tcpFault'> {
  const m = optSection(r, spec, 'faultInjection', path, ['delay', 'abort', 'headers', 'tcp']);
  if (m === undefined) return {};
  const at = [...path, 'faultInjection'];
  const delay = readDelay(r, m, 'delay', at);
  const abort = readAbort(r, m, at);
  const headers = readHeaderConditions(r, m, 'headers', at);
  const tcpFault = route ? undefined : readTcpFault(r, m, at);
  const http = delay !== undefined || abort !== undefined;
  if (!http && tcpFault === undefined && m['delay'] == null && m['abort'] == null && (route || m['tcp'] == null)) {
    r.report(at, route ? 'must set delay or abort' : 'must set delay, abort or tcp');
  }
  if (!http && headers.length > 0) r.report([...at, 'headers'], 'apply to delay and abort only: set one of them');
  const fault: FaultPolicy | undefined = http ? { ...(delay === undefined ? {} : { delay }), ...(abort === undefined ? {} : { abort }), headers } : undefined;
  return { ...(fault === undefined ? {} : { fault }), ...(tcpFault === undefined ? {} : { tcpFault }) };
}

/** `{fixedDelay, percentage}`: `fixedDelay` required, `percentage` default 100. */
function readDelay(r: ProblemSink, m: Fields, key: string, at: FieldPath): Delay | undefined {
  const d = optSection(r, m, key, at, ['fixedDelay', 'percentage']);
  if (d === undefined) return undefined;
  const dat = [...at, key];
  requireField(r, d, 'fixedDelay', dat);
  const ms = optDuration(r, d, 'fixedDelay', dat, 1, MAX_FAULT_DELAY_MS);
  const percent = optPercent(r, d, 'percentage', dat) ?? 100;
  return ms === undefined ? undefined : { ms, percent };
}

/** `abort: {httpStatus, grpcStatus, percentage}`: at least one status. */
function readAbort(r: ProblemSink, m: Fields, at: FieldPath): FaultPolicy['abort'] {
  const a = optSection(r, m, 'abort', at, ['httpStatus', 'grpcStatus', 'percentage']);
  if (a === undefined) return undefined;
  const aat = [...at, 'abort'];
  const httpStatus = optInt(r, a, 'httpStatus', aat, 200, 599);
  const grpcStatus = optInt(r, a, 'grpcStatus', aat, 0, 16);
  const percent = optPercent(r, a, 'percentage', aat) ?? 100;
  if (a['httpStatus'] == null && a['grpcStatus'] == null) {
    r.report(aat, 'must set httpStatus (200..599), grpcStatus (0..16) or both');
    return undefined;
  }
  if ((a['httpStatus'] != null && httpStatus === undefined) || (a['grpcStatus'] != null && grpcStatus === undefined)) return undefined;
  return { httpStatus: httpStatus ?? DEFAULT_ABORT_HTTP_STATUS, ...(grpcStatus === undefined ? {} : { grpcStatus }), percent };
}

/** `tcp: {delay: {fixedDelay, percentage}, resetPercentage}`. */
function readTcpFault(r: ProblemSink, m: Fields, at: FieldPath): TcpFaultPolicy | undefined {
  const t = optSection(r, m, 'tcp', at, ['delay', 'resetPercentage']);
  if (t === undefined) return undefined;
  const tat = [...at, 'tcp'];
  const delay = readDelay(r, t, 'delay', tat);
  const resetPercent = optPercent(r, t, 'resetPercentage', tat);
  if (t['delay'] == null && t['resetPercentage'] == null) r.report(tat, 'must set delay, resetPercentage or both');
  if (delay === undefined && resetPercent === undefined) return undefined;
  return { ...(delay === undefined ? {} : { delay }), resetPercent: resetPercent ?? 0 };
}

/** `rateLimit: {type: Local, local: {rules}}`. */
export function readRateLimit(r: ProblemSink, spec: Fields, path: FieldPath): RateLimitPolicy | undefined {
  const m = optSection(r, spec, 'rateLimit', path, ['type', 'local']);
  if (m === undefined) return undefined;
  const at = [...path, 'rateLimit'];
  optEnum(r, m, 'type', at, ['Local'] as const);
  const local = optSection(r, m, 'local', at, ['rules']);
  if (local === undefined) {
    r.report([...at, 'local'], 'required: {rules: [...]}');
    return undefined;
  }
  const lat = [...at, 'local'];
  const list = boundedList(r, local, 'rules', lat, MAX_RATE_LIMIT_RULES);
  if (list.length === 0) r.report([...lat, 'rules'], 'required: at least one rule');
  const rules: RateLimitRule[] = [];
  list.forEach((v, i) => {
    const rule = readRule(r, v, [...lat, 'rules', i]);
    if (rule !== undefined) rules.push(rule);
  });
  return { rules };
}

function readRule(r: ProblemSink, v: unknown, at: FieldPath): RateLimitRule | undefined {
  if (!isFields(v)) {
    r.report(at, `must be a mapping {limit, perSource, clientSelectors}, got ${formatValue(v)}`);
    return undefined;
  }
  checkFields(r, v, at, ['limit', 'perSource', 'clientSelectors'], true);
  const limit = readLimit(r, v, at);
  const perSource = optBool(r, v, 'perSource', at) ?? false;
  const { headers, sources } = readSelectors(r, v, at);
  if (limit === undefined) return undefined;
  return { ...limit, perSource, sources, headers };
}

/** `limit: {requests, unit}`. */
function readLimit(r: ProblemSink, rule: Fields, at: FieldPath): Pick<RateLimitRule, 'requests' | 'periodMs'> | undefined {
  const l = optSection(r, rule, 'limit', at, ['requests', 'unit']);
  const lat = [...at, 'limit'];
  if (l === undefined) {
    r.report(lat, 'required: {requests, unit}');
    return undefined;
  }
  requireField(r, l, 'requests', lat);
  requireField(r, l, 'unit', lat);
  const requests = optInt(r, l, 'requests', lat, 1, MAX_RATE_LIMIT_REQUESTS);
  const unit = optEnum(r, l, 'unit', lat, Object.keys(RATE_LIMIT_UNITS));
  if (requests === undefined || unit === undefined) return undefined;
  return { requests, periodMs: RATE_LIMIT_UNITS[unit] as number };
}

/**
 * `clientSelectors`: every selector must hold (Envoy Gateway's rule), so their headers add up;
 * `sourcePrincipals` (any of them) may be written in one selector only, since two lists that
 * must both hold are one list nobody meant.
 */
function readSelectors(r: ProblemSink, rule: Fields, at: FieldPath): Pick<RateLimitRule, 'headers' | 'sources'> {
  const headers: RateLimitRule['headers'][number][] = [];
  let sources: string[] | undefined;
  boundedList(r, rule, 'clientSelectors', at, MAX_CLIENT_SELECTORS).forEach((s, i) => {
    const sat = [...at, 'clientSelectors', i];
    if (!isFields(s)) {
      r.report(sat, `must be a mapping {headers, sourcePrincipals}, got ${formatValue(s)}`);
      return;
    }
    checkFields(r, s, sat, ['headers', 'sourcePrincipals'], true);
    for (const h of readHeaderConditions(r, s, 'headers', sat)) {
      if (headers.some((c) => c.name === h.name)) r.report([...sat, 'headers'], `header ${formatValue(h.name)} is already a condition of another selector of this rule`);
      else headers.push(h);
    }
    if (s['sourcePrincipals'] == null) return;
    if (sources !== undefined) r.report([...sat, 'sourcePrincipals'], 'may be set in one selector of a rule only');
    else sources = readPrincipals(r, s, sat);
  });
  if (headers.length > MAX_HEADER_CONDITIONS) r.report([...at, 'clientSelectors'], `at most ${MAX_HEADER_CONDITIONS} header conditions across selectors, got ${headers.length}`);
  return { headers: headers.slice(0, MAX_HEADER_CONDITIONS), sources: sources ?? [] };
}

/** Exact SPIFFE ids, unique; an empty list would match no source, so it is refused. */
function readPrincipals(r: ProblemSink, s: Fields, at: FieldPath): string[] {
  const out: string[] = [];
  const list = boundedList(r, s, 'sourcePrincipals', at, MAX_SOURCE_PRINCIPALS);
  if (list.length === 0) r.report([...at, 'sourcePrincipals'], 'must name at least one SPIFFE id (or leave it out for any source)');
  list.forEach((v, i) => {
    const pat = [...at, 'sourcePrincipals', i];
    let ok = false;
    try {
      ok = typeof v === 'string' && v.length <= 2048 && parseSpiffeId(v) !== undefined;
    } catch {
      ok = false;
    }
    if (!ok) r.report(pat, `must be a SPIFFE id spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>, got ${formatValue(v)}`);
    else if (out.includes(v as string)) r.report(pat, `duplicate principal ${formatValue(v)}`);
    else out.push(v as string);
  });
  return out;
}
