/**
 * The markdown report of a run: machine facts, setup, the bar in plain words, then one table
 * per scenario (median of the rounds with min–max, and meshlet's ratios), and the
 * authorization engine's section with its target when `authz-1000` ran. Pure.
 *
 * @module
 */

import { authzSection } from './authz-report.js';
import { metricOnPath, PATH_LABELS, type BenchResults, type MetricSpec, type PathName, type ProfileSummary, type ScenarioResult } from './bench-types.js';
import { NOISY_NEIGHBOUR_ID, noisyBarLines } from './noisy-neighbour-report.js';
import { RESILIENCE_SCENARIO_ID } from './resilience-policy.js';
import { resilienceSection } from './resilience-report.js';
import { TRACING_SCENARIO_ID } from './tracing-policy.js';
import { tracingSection } from './tracing-report.js';
import { comparisonOf, metricStat, pathLabel, ratio, scenarioPaths, verdicts, type Stat } from './summary.js';

/** A number with a fixed count of decimals and thousands separators. */
export function formatNumber(n: number, digits: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cell(s: Stat | undefined, m: MetricSpec): string {
  if (s === undefined) return 'failed';
  const median = formatNumber(s.median, m.digits);
  return s.n > 1 ? `${median} (${formatNumber(s.min, m.digits)}–${formatNumber(s.max, m.digits)})` : median;
}

function ratioCell(r: number | undefined): string {
  return r === undefined ? '—' : `${formatNumber(r, 2)}x`;
}

/** The markdown table of one scenario, over the paths of it that the run ran (`runPaths`). */
export function scenarioTable(s: ScenarioResult, runPaths: readonly PathName[]): string {
  const paths = scenarioPaths(s, runPaths);
  const { subject, peer } = comparisonOf(s);
  const cols = paths.map((p) => pathLabel(s, p));
  const vsDirect = paths.includes(subject) && paths.includes('direct');
  const vsHaproxy = paths.includes(subject) && paths.includes(peer);
  const short = (p: PathName): string => (p === 'haproxy' ? 'HAProxy' : pathLabel(s, p));
  const head = ['metric', ...cols, ...(vsDirect ? [`${short(subject)}/direct`] : []), ...(vsHaproxy ? [`${short(subject)}/${short(peer)}`] : [])];
  const rows = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const m of s.metrics) {
    const stats = new Map(paths.map((p) => [p, metricStat(s, m.key, p)]));
    const values = paths.map((p) => {
      const na = s.notApplicable[p];
      if (na !== undefined || !metricOnPath(m, p)) return '—';
      return cell(stats.get(p), m);
    });
    const ratios = [
      ...(vsDirect ? [!metricOnPath(m, 'direct') || s.notApplicable.direct !== undefined ? '—' : ratioCell(ratio(stats.get(subject), stats.get('direct')))] : []),
      ...(vsHaproxy ? [metricOnPath(m, peer) ? ratioCell(ratio(stats.get(subject), stats.get(peer))) : '—'] : []),
    ];
    rows.push(`| ${m.label}${m.unit === '' ? '' : ` (${m.unit})`} | ${[...values, ...ratios].join(' | ')} |`);
  }
  return rows.join('\n');
}

/** A scenario's figures: the resilience and tracing scenarios compare configurations on one path, in their own tables. */
function sectionOf(s: ScenarioResult, paths: readonly PathName[]): string[] {
  if (s.id === RESILIENCE_SCENARIO_ID) return resilienceSection(s);
  if (s.id === TRACING_SCENARIO_ID) return tracingSection(s);
  if (s.id === NOISY_NEIGHBOUR_ID) return [scenarioTable(s, paths), '', ...noisyBarLines(s, paths)];
  return [scenarioTable(s, paths)];
}

function doubtful(s: ScenarioResult): string[] {
  return s.runs.filter((r) => r.error !== undefined).map((r) => `- round ${r.round}, ${PATH_LABELS[r.path]}: ${r.error}`);
}

function machineTable(r: BenchResults): string {
  const m = r.machine;
  const rows: [string, string][] = [
    ['CPU', `${m.cores} cores, ${m.cpuModel}`],
    ['memory', `${formatNumber(m.memoryGiB, 1)} GiB`],
    ['kernel', m.kernel],
    ['Node.js', m.node],
    ['HAProxy', m.haproxy],
    ['iperf3 / sockperf / wrk / h2load', `${m.iperf3} / ${m.sockperf} / ${m.wrk} / ${m.h2load ?? 'not recorded'}`],
    ['open files limit', String(m.fdLimit)],
    ['load average (1 min), start / end', `${formatNumber(r.loadAverage.start, 2)} / ${formatNumber(r.loadAverage.end, 2)} (includes the bench's own processes; far above ${m.cores} means other work competed for the cores)`],
  ];
  // Results from before --pin have no such parameter: their processes were not pinned.
  const pinning = r.parameters[PINNING_PARAMETER];
  if (pinning !== undefined) rows.push(['CPU pinning', String(pinning)]);
  return ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
}

function tlsLine(r: BenchResults): string {
  const t = (x: { protocol: string; cipher: string; group: string } | undefined): string => (x === undefined ? 'not probed' : `${x.protocol}, ${x.cipher}, ${x.group}`);
  // Older results list no paths beyond the three of the L4 scenarios: their TCP pair was always there.
  const tcp = r.paths.includes('haproxy') ? `; HAProxy pair ${t(r.tls.haproxy)}` : '';
  const http = r.paths.includes('haproxy-http') ? `; HAProxy HTTP pair ${t(r.tls['haproxy-http'])}` : '';
  return `- TLS negotiated (checked with a handshake against each): meshlet tunnel ${t(r.tls.meshlet)}${tcp}${http}.`;
}

function barSection(r: BenchResults): string[] {
  const vs = verdicts(r);
  if (vs.length === 0) return [];
  const met = vs.filter((v) => v.meets === true).length;
  const lines = [
    '## The bar',
    '',
    `meshlet meets ${met} of ${vs.length} checks: throughput >= 1.0x HAProxy, added latency over direct <= 1.0x HAProxy's, CPU per 1,000 requests <= 1.0x HAProxy's (medians; L4 scenarios against the TCP pair, L7 ones meshlet L7 against the HTTP pair).`,
    '',
    '| check | result | figures |',
    '|---|---|---|',
  ];
  for (const v of vs) {
    const result = v.meets === undefined ? 'not measured' : v.meets ? 'meets' : '**falls short**';
    lines.push(`| ${v.what} | ${result} | ${v.detail} |`);
  }
  return [...lines, ''];
}

/** The run parameter that says how the processes were pinned to CPUs (`--pin`): shown with the machine, not among the parameters. */
export const PINNING_PARAMETER = 'CPU pinning';

/** The lab, in words (runs with lab scenarios only). */
const LAB_SETUP =
  '- Lab: two nodes in network namespaces; clients on node1, servers on node2. direct: plain client to plain server pod (routed by both nodes, no proxy). meshlet: meshed client to the Service VIP, both node agents, one mTLS HTTP/2 tunnel. HAProxy pair: plain client to HAProxy on node1 (TCP mode), mutual TLS to HAProxy on node2, plaintext to the plain server pod; one TLS connection per client connection. L7 scenarios: meshlet L4 (ports `appProtocol: tcp`), meshlet L7 (ports `appProtocol: http`/`http2`, requests as HTTP/2 streams on the tunnel) and the HAProxy HTTP pair (mode http, per-request `leastconn`, HTTP/2 over mutual TLS between the two with `http-reuse always`, keep-alive to the server).';

/** The whole report. `chartFile` is the PNG's name next to it (omitted when none was made). */
export function renderReport(r: BenchResults, chartFile?: string): string {
  const out = [
    `# meshlet benchmark: ${r.mode} run${r.profile ? ' (profile)' : ''}, ${r.startedAt.slice(0, 10)}`,
    '',
    `Started ${r.startedAt}, finished ${r.finishedAt}. Paths: ${r.paths.length === 0 ? 'none (no lab scenario ran)' : r.paths.map((p) => PATH_LABELS[p]).join(', ')}.`,
    '',
    '## Machine',
    '',
    machineTable(r),
    '',
    '## Setup',
    '',
    ...(r.paths.length === 0 ? [] : [LAB_SETUP, tlsLine(r)]),
    `- ${Object.entries(r.parameters).filter(([k]) => k !== PINNING_PARAMETER).map(([k, v]) => `${k} ${String(v)}`).join(', ')}.${r.paths.length === 0 ? '' : ' Rounds run every scenario on every path in turn (A B C A B C), so drift spreads over all paths; tables show the median of the rounds and min–max.'}`,
    ...r.notes.map((n) => `- Note: ${n}`),
    '',
    ...barSection(r),
  ];
  if (chartFile !== undefined) out.push(`![meshlet, HAProxy and direct side by side](${chartFile})`, '');
  for (const s of r.scenarios) {
    out.push(`## ${s.title}`, '', s.measures, '', ...sectionOf(s, r.paths), '');
    const bad = doubtful(s);
    if (bad.length > 0) out.push('Doubtful runs:', '', ...bad, '');
  }
  if (r.authz !== undefined) out.push(...authzSection(r.authz));
  for (const p of r.cpuProfiles ?? []) out.push(...profileSection(p));
  return `${out.join('\n').trimEnd()}\n`;
}

function profileSection(p: ProfileSummary): string[] {
  const lines = [`## Where the ${p.node} agent spends its time (node --cpu-prof)`, '', `Profile \`${p.file}\`: ${formatNumber(p.totalMs / 1000, 1)} s sampled over the agent's whole life (start-up included), ${formatNumber(p.busyMs / 1000, 1)} s of it busy; shares below are of the busy time. Self time is charged to the frame on top of the stack; TLS and HTTP/2 framing run in C++ (OpenSSL, nghttp2) and show as native code, and a socket write's time includes the kernel delivering the data into the receiving namespace.`, ''];
  lines.push('| category | time (s) | share of busy |', '|---|---:|---:|');
  for (const c of p.categories) lines.push(`| ${c.name} | ${formatNumber(c.ms / 1000, 2)} | ${formatNumber(c.share * 100, 1)}% |`);
  lines.push('', '| function (self time) | where | called from meshlet\'s | time (s) | share of busy |', '|---|---|---|---:|---:|');
  for (const f of p.topFunctions) {
    lines.push(`| \`${f.name}\` | ${f.location} | ${f.via === undefined ? '—' : `\`${f.via}\``} | ${formatNumber(f.selfMs / 1000, 2)} | ${formatNumber(f.share * 100, 1)}% |`);
  }
  return [...lines, ''];
}
