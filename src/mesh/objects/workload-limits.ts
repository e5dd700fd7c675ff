/**
 * The per-workload limit annotations of a Pod (or a meshlet Workload): what one workload may
 * take of its node's agent (issue 18, docs/workload-limits.md). A bad value is a problem of the
 * object, which then yields nothing: the previous state stays in force.
 */
import type { Reporter } from './report.js';
import { readAnnotation } from './meta.js';
import { formatValue, type Fields } from '../validate/values.js';
import type { WorkloadLimits } from '../types.js';

/** Connections the workload may have open through its agent at once. */
export const MAX_CONNECTIONS_ANNOTATION = 'meshlet.io/max-connections';

/**
 * The largest value accepted: far above what one agent holds (each connection is at least one
 * descriptor), so a typo with extra digits is an error rather than "no limit".
 */
export const MAX_CONNECTIONS_CEILING = 1_000_000;

/**
 * Bits per second the workload's outbound connections may move through its agent, both ways
 * summed. Written as Kubernetes' `kubernetes.io/egress-bandwidth` is: bits per second with an
 * SI (`k`, `M`, `G`, `T`, `P`) or binary (`Ki` .. `Pi`) suffix, e.g. `"10M"`.
 */
export const MAX_BANDWIDTH_ANNOTATION = 'meshlet.io/max-bandwidth';

/**
 * The range of `meshlet.io/max-bandwidth`, bits per second: Kubernetes' for its bandwidth
 * annotations (1k..1P, `ValidateBandwidthIsReasonable`), so any value an SRE already uses there
 * is read the same here, and a value below 1 kbit/s (a `10m`, which is milli) is refused.
 */
export const MIN_BANDWIDTH_BPS = 1_000;
export const MAX_BANDWIDTH_BPS = 1e15;

/**
 * The largest share of its agent the workload may take while the agent is saturated and a
 * neighbour is active, in percent of each data-path process: `"25%"` (or `"25"`), 1..100.
 */
export const MAX_AGENT_SHARE_ANNOTATION = 'meshlet.io/max-agent-share';

const BANDWIDTH_TEXT = 'must be bits per second 1k..1P as in kubernetes.io/egress-bandwidth: a number with an optional suffix k, M, G, T, P (x1000) or Ki, Mi, Gi, Ti, Pi (x1024), e.g. "10M"';

/** The limits the annotations of `obj` set; undefined when it sets none (or one is malformed: reported). */
export function readWorkloadLimits(r: Reporter, obj: Fields): WorkloadLimits | undefined {
  const connText = readAnnotation(r, obj, MAX_CONNECTIONS_ANNOTATION);
  const bwText = readAnnotation(r, obj, MAX_BANDWIDTH_ANNOTATION);
  const shareText = readAnnotation(r, obj, MAX_AGENT_SHARE_ANNOTATION);
  let maxConnections: number | undefined;
  let maxBandwidth: number | undefined;
  let maxAgentShare: number | undefined;
  if (connText !== undefined) {
    maxConnections = parseMaxConnections(connText);
    if (maxConnections === undefined) r.report(['metadata', 'annotations', MAX_CONNECTIONS_ANNOTATION], `must be a whole number of connections 1..${MAX_CONNECTIONS_CEILING}, e.g. "200", got ${formatValue(connText)}`);
  }
  if (bwText !== undefined) {
    maxBandwidth = parseBandwidth(bwText);
    if (maxBandwidth === undefined) r.report(['metadata', 'annotations', MAX_BANDWIDTH_ANNOTATION], `${BANDWIDTH_TEXT}, got ${formatValue(bwText)}`);
  }
  if (shareText !== undefined) {
    maxAgentShare = parseAgentShare(shareText);
    if (maxAgentShare === undefined) r.report(['metadata', 'annotations', MAX_AGENT_SHARE_ANNOTATION], `must be a whole percent 1..100 of the agent, e.g. "25%", got ${formatValue(shareText)}`);
  }
  if (maxConnections === undefined && maxBandwidth === undefined && maxAgentShare === undefined) return undefined;
  return {
    ...(maxConnections === undefined ? {} : { maxConnections }),
    ...(maxBandwidth === undefined ? {} : { maxBandwidth }),
    ...(maxAgentShare === undefined ? {} : { maxAgentShare }),
  };
}

/** `text` as a whole percent 1..100 (`"25%"` or `"25"`), or undefined: `"0"`, `"0.5"`, `"150%"`, `"25 %"` are refused. */
export function parseAgentShare(text: string): number | undefined {
  const m = /^(\d{1,3})%?$/.exec(text.trim());
  if (m === null) return undefined;
  const n = Number(m[1]);
  return n >= 1 && n <= 100 ? n : undefined;
}

/** `text` as a connection count (digits only, 1..{@link MAX_CONNECTIONS_CEILING}), or undefined. */
export function parseMaxConnections(text: string): number | undefined {
  const trimmed = text.trim();
  // Digits only: "1e3", "0x10", "1.5", "-1" and "" are refused, not read as numbers by JS rules.
  if (!/^\d{1,7}$/.test(trimmed)) return undefined;
  const n = Number(trimmed);
  return n >= 1 && n <= MAX_CONNECTIONS_CEILING ? n : undefined;
}

/** Multipliers of the suffixes of a Kubernetes quantity meshlet accepts for bandwidth. */
const BANDWIDTH_SUFFIXES: ReadonlyMap<string, number> = new Map([
  ['', 1],
  ['k', 1e3],
  ['M', 1e6],
  ['G', 1e9],
  ['T', 1e12],
  ['P', 1e15],
  ['Ki', 2 ** 10],
  ['Mi', 2 ** 20],
  ['Gi', 2 ** 30],
  ['Ti', 2 ** 40],
  ['Pi', 2 ** 50],
]);

/**
 * `text` as whole bits per second ({@link MIN_BANDWIDTH_BPS}..{@link MAX_BANDWIDTH_BPS}), or
 * undefined. A Kubernetes quantity without its exponent and milli forms: digits with an optional
 * fraction, then a suffix; case matters (`10m` is milli in Kubernetes, `10K` is no suffix), so
 * both are refused rather than guessed. A fraction must come to whole bits (`1.5k` is 1500).
 */
export function parseBandwidth(text: string): number | undefined {
  const m = /^(\d{1,16})(?:\.(\d{1,15}))?([A-Za-z]{0,2})$/.exec(text.trim());
  if (m === null) return undefined;
  const mult = BANDWIDTH_SUFFIXES.get(m[3] ?? '');
  if (mult === undefined) return undefined;
  const frac = m[2] ?? '';
  // Integer arithmetic on the digits (BigInt), so "1.1k" is exactly 1100, not 1100.0000000000002.
  const scale = 10n ** BigInt(frac.length);
  const scaled = BigInt(`${m[1] ?? '0'}${frac}`) * BigInt(mult);
  if (scaled % scale !== 0n) return undefined;
  const bits = scaled / scale;
  if (bits < BigInt(MIN_BANDWIDTH_BPS) || bits > BigInt(MAX_BANDWIDTH_BPS)) return undefined;
  return Number(bits);
}

/** `bps` bits per second written back with the largest SI suffix that divides it (`8000000` -> `8M`), for tables. */
export function formatBandwidth(bps: number): string {
  for (const [suffix, mult] of [['P', 1e15], ['T', 1e12], ['G', 1e9], ['M', 1e6], ['k', 1e3]] as const) {
    if (bps >= mult && bps % mult === 0) return `${bps / mult}${suffix}`;
  }
  return String(bps);
}
