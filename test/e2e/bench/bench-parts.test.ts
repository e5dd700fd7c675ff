/**
 * The bench harness's pure parts: tool-output parsers, /proc parsing, HAProxy configs,
 * options, statistics and the bar, CPU-profile summaries, the report and the chart. No
 * namespaces needed; this file sits with the smoke test because `test/e2e/bench/` is the
 * bench's test folder (it would belong in `test/unit/bench/`).
 */
import t from 'tap';
import { benchOptions, LAB_SCENARIO_IDS } from '../../../bench/bench-options.js';
import type { BenchResults, RunRecord, ScenarioResult } from '../../../bench/bench-types.js';
import { renderChartSvg } from '../../../bench/chart-svg.js';
import { categoryOf, summarizeCpuProfile, type CpuProfile } from '../../../bench/cpu-profile.js';
import { renderOriginConfig, renderPairConfig } from '../../../bench/haproxy-config.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { parentPidOf, parseProcStat, parseProcStatus, processTree } from '../../../bench/proc-stats.js';
import { renderReport } from '../../../bench/report-markdown.js';
import { scenarioSpecs } from '../../../bench/scenarios.js';
import { stat, verdicts } from '../../../bench/summary.js';
import { parseIperfJson, parseSockperf, parseWrkReport } from '../../../bench/tool-parsers.js';
import { isMeshletError } from '../../../src/mesh/errors.js';

const SOCKPERF = `sockperf: [Total Run] RunTime=2.000 sec; Warm up time=400 msec; SentMessages=2001; ReceivedMessages=2001
sockperf: ========= Printing statistics for Server No: 0
sockperf: [Valid Duration] RunTime=1.549 sec; SentMessages=1550; ReceivedMessages=1550
sockperf: \u001b[2;35m====> avg-latency=36.871 (std-dev=163.550)\u001b[0m
sockperf: # dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0
sockperf: Summary: Latency is 36.871 usec
sockperf: \u001b[2;35mTotal 1550 observations\u001b[0m; each percentile contains 15.50 observations
sockperf: ---> <MAX> observation = 2456.415
sockperf: ---> percentile 99.999 = 2456.415
sockperf: ---> percentile 99.990 = 2456.415
sockperf: ---> percentile 99.900 = 1966.285
sockperf: ---> percentile 99.000 =  818.004
sockperf: ---> percentile 90.000 =   23.852
sockperf: ---> percentile 75.000 =   20.202
sockperf: ---> percentile 50.000 =   16.792
sockperf: ---> percentile 25.000 =    8.462
sockperf: ---> <MIN> observation =    7.456
`;

t.test('tool parsers read what the tools print and name what is missing', async (t) => {
  const iperf = parseIperfJson(JSON.stringify({ end: { sum_received: { bits_per_second: 2.5e9, bytes: 1_250_000_000, seconds: 4 } } }));
  t.same(iperf, { bitsPerSecond: 2.5e9, bytes: 1_250_000_000, seconds: 4 });
  t.throws(() => parseIperfJson('{"error": "unable to connect to server: Connection refused"}'), /unable to connect/);
  t.throws(() => parseIperfJson('not json'), /not JSON/);

  const sp = parseSockperf(SOCKPERF);
  t.same(sp, { p50Us: 16.792, p90Us: 23.852, p99Us: 818.004, maxUs: 2456.415, observations: 1550, validSeconds: 1.549, sent: 1550, received: 1550, dropped: 0 });
  t.throws(() => parseSockperf('sockperf: error: connection refused'), { code: 'MESHLET_ERR_HOST_TOOL' });

  const wrk = parseWrkReport(
    'Running 2s test\nWRK_JSON {"requests":3000,"duration_us":2000000,"bytes":3500000,"connect_errors":1,"read_errors":0,"write_errors":0,"status_errors":2,"timeouts":0,"p50_us":700,"p90_us":900,"p99_us":1500,"max_us":4000}\n',
  );
  t.same(wrk, { requests: 3000, seconds: 2, bytes: 3_500_000, errors: 3, p50Us: 700, p90Us: 900, p99Us: 1500, maxUs: 4000 });
  t.throws(() => parseWrkReport('Requests/sec: 100'), /wrk-report\.lua/);
});

t.test('/proc parsing copes with odd command names', async (t) => {
  // Fields after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const stat = '4242 (we ird) (name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 100 1000000 5000';
  t.same(parseProcStat(stat, 100), { userS: 2.5, systemS: 0.75 });
  t.throws(() => parseProcStat('garbage', 100));
  t.same(parseProcStatus('Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n'), { rssKiB: 102_400, peakKiB: 204_800 });
});

t.test('the HAProxy pair pins TLS and verifies peers on both sides', async (t) => {
  const base = {
    threads: 1,
    maxConnections: 9900,
    tls: { version: 'TLSv1.3', cipherSuite: 'TLS_AES_256_GCM_SHA384', group: 'X25519' },
    ports: [{ name: 'web', port: 8080, tlsPort: 28080 }],
    frontAddress: '198.18.0.10',
    backAddress: '198.18.0.11',
    serverAddress: '198.18.2.11',
    certKeyFile: '/x/front.pem',
    caFile: '/x/ca.crt',
  };
  const front = renderPairConfig({ ...base, role: 'client-side' });
  t.match(front, /ssl-default-bind-options ssl-min-ver TLSv1\.3 ssl-max-ver TLSv1\.3/);
  t.match(front, /ssl-default-server-ciphersuites TLS_AES_256_GCM_SHA384/);
  t.match(front, /ssl-default-bind-curves X25519/);
  t.match(front, /bind 198\.18\.0\.10:8080\n  server peer 198\.18\.0\.11:28080 ssl crt \/x\/front\.pem ca-file \/x\/ca\.crt verify required/);
  t.match(front, /option tcplog/, 'one log line per connection, like the agents');
  const back = renderPairConfig({ ...base, role: 'server-side' });
  t.match(back, /bind 198\.18\.0\.11:28080 ssl crt \/x\/front\.pem ca-file \/x\/ca\.crt verify required\n  server app 198\.18\.2\.11:8080\n/);
  const origin = renderOriginConfig({ port: 8080, bodyFile: '/x/body.txt', maxConnections: 4096 });
  t.match(origin, /mode http/);
  t.match(origin, /http-request return status 200 content-type text\/plain file \/x\/body\.txt/);
});

t.test('options: modes, overrides, every bad flag at once', async (t) => {
  t.equal(benchOptions({}).mode, 'full');
  t.equal(benchOptions({}).idleConnections, 10_000, 'the full run holds 10,000 idle connections');
  t.equal(benchOptions({}).idleSettleMs, 36_000, 'the full run reads idle memory past the agents\' 30 s heap release');
  t.equal(benchOptions({ quick: true }).idleSettleMs, 36_000, 'so does the quick run');
  t.equal(benchOptions({ smoke: true }).idleSettleMs, 1_000, 'the smoke run only checks the read works');
  t.equal(benchOptions({ quick: true }).rounds, 2);
  t.equal(benchOptions({ smoke: true, rounds: '3' }).rounds, 3);
  t.ok(Object.isFrozen(benchOptions({})));
  try {
    benchOptions({ quick: true, smoke: true, rounds: '0', seconds: 'x', name: 'Bad Name' });
    t.fail('bad flags were accepted');
  } catch (err) {
    t.ok(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'), 'a configuration error');
    t.equal(isMeshletError(err) ? err.details.length : 0, 4, 'every bad flag is listed');
  }
});

t.test('options: agent workers follow the HAProxy threads, node flags and a scenario filter', async (t) => {
  t.equal(benchOptions({}).agentWorkers, 1, 'one worker against one HAProxy thread');
  t.equal(benchOptions({ haproxyThreads: '2' }).agentWorkers, 2, 'the same thread budget on both proxied paths');
  t.equal(benchOptions({ haproxyThreads: '2', workers: '1' }).agentWorkers, 1);
  t.same(benchOptions({ agentNodeFlags: ' --max-semi-space-size=16  --no-opt ' }).agentNodeFlags, ['--max-semi-space-size=16', '--no-opt']);
  t.same(benchOptions({ only: 'bulk-1, http-rps' }).only, ['bulk-1', 'http-rps']);
  t.equal(benchOptions({}).only, undefined);
  t.same(LAB_SCENARIO_IDS, scenarioSpecs({ latencyRates: [1_000, 10_000], idleConnections: 1 }).map((s) => s.id), 'every lab scenario id, and only those');
  try {
    benchOptions({ only: 'bulk-1,nope', agentNodeFlags: 'rm -rf', workers: '0' });
    t.fail('bad flags were accepted');
  } catch (err) {
    t.equal(isMeshletError(err) ? err.details.length : 0, 3, 'each bad flag named');
    t.match(String((err as Error).message), /--only .*"bulk-1,nope"/);
  }
});

t.test('an agent with workers is metered as its whole process tree', async (t) => {
  t.equal(parentPidOf('42 (a (b) c) S 7 42 42 0 -1'), 7, 'the command name may hold parentheses');
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  if (child.pid === undefined) await once(child, 'spawn');
  const tree = processTree(process.pid);
  t.equal(tree[0], process.pid, 'the root first');
  t.ok(tree.includes(child.pid as number), 'a child is part of the tree');
});

function run(path: RunRecord['path'], round: number, values: Record<string, number>): RunRecord {
  return { round, path, values, wallMs: 1 };
}

function fakeResults(): BenchResults {
  const specs = scenarioSpecs({ latencyRates: [1000], idleConnections: 10 });
  const runs: Record<string, RunRecord[]> = {
    'bulk-1': [run('direct', 1, { gbps: 10 }), run('meshlet', 1, { gbps: 3, cpuPerGiB: 2, peakRssMiB: 100 }), run('haproxy', 1, { gbps: 2, cpuPerGiB: 1, peakRssMiB: 30 })],
    'latency-1000': [
      run('direct', 1, { p50Us: 20, p90Us: 30, p99Us: 50, maxUs: 90 }),
      run('meshlet', 1, { p50Us: 220, p90Us: 300, p99Us: 500, maxUs: 900 }),
      run('haproxy', 1, { p50Us: 70, p90Us: 90, p99Us: 600, maxUs: 700 }),
    ],
    'http-rps': [run('meshlet', 1, { rps: 100, cpuPer1k: 0.05 }), run('haproxy', 1, { rps: 120, cpuPer1k: 0.06 }), run('direct', 1, { rps: 500 })],
  };
  const scenarios: ScenarioResult[] = specs.map((s) => ({ ...s, runs: runs[s.id] ?? [] }));
  return {
    format: 'meshlet-bench/1',
    mode: 'smoke',
    profile: false,
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:01:00.000Z',
    machine: { cores: 2, cpuModel: 'cpu', memoryGiB: 8, kernel: 'Linux 6', node: 'v20', haproxy: 'HAProxy 2.6', iperf3: '3.12', sockperf: '3.7', wrk: '4.1', fdLimit: 20000 },
    loadAverage: { start: 0.5, end: 2 },
    paths: ['direct', 'meshlet', 'haproxy'],
    parameters: { rounds: 1 },
    tls: {},
    notes: [],
    scenarios,
  };
}

t.test('statistics and the bar', async (t) => {
  t.same(stat([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  t.same(stat([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4, n: 4 });
  t.equal(stat([Number.NaN]), undefined);
  const vs = verdicts(fakeResults());
  const find = (what: RegExp): boolean | undefined => vs.find((v) => what.test(v.what))?.meets;
  t.equal(find(/1 stream/), true, 'throughput 3 vs 2: meets');
  t.equal(find(/HTTP\/1\.1 requests per second, 64 connections: meshlet/), false, '100 vs 120 rps: falls short');
  t.equal(find(/p50: added/), false, 'meshlet adds 200 µs at p50, HAProxy 50');
  t.equal(find(/p99: added/), true, 'meshlet adds 450 µs at p99, HAProxy 550');
  t.equal(find(/per 1,000 requests/), true, 'CPU 0.05 vs 0.06: meets');
  t.equal(find(/Connection setup rate/), undefined, 'not measured');
  t.same(verdicts({ ...fakeResults(), paths: ['meshlet'] }), [], 'no bar without HAProxy');
});

t.test('report and chart', async (t) => {
  const md = renderReport(fakeResults(), 'chart.png');
  t.match(md, /\| throughput \(Gbit\/s\) \| 10\.00 \| 3\.00 \| 2\.00 \| 0\.30x \| 1\.50x \|/);
  t.match(md, /\| proxy CPU per GiB \(s\) \| — \| 2\.00 \| 1\.00 \| — \| 2\.00x \|/, 'proxy figures have no direct value');
  t.match(md, /\*\*falls short\*\*/);
  t.match(md, /!\[.*\]\(chart\.png\)/);
  t.match(md, /\| requests \(\/s\) \| 500 \| 100 \| 120 \|/);
  t.match(md, /connections \(\/s\) \| failed \| failed \| failed \|/, 'a scenario without values says so');
  const svg = renderChartSvg(fakeResults());
  t.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.match(svg, /HAProxy pair/);
  t.notMatch(svg, /NaN|undefined/);
});

t.test('CPU profile summary: self time by function and category', async (t) => {
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 } },
      { id: 2, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
      { id: 3, callFrame: { functionName: 'splice', url: 'file:///repo/dist/src/agent/splice.js', lineNumber: 9 } },
      { id: 4, callFrame: { functionName: 'write', url: 'node:internal/http2/core', lineNumber: 100 } },
      { id: 5, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
    ],
    samples: [2, 3, 3, 4, 5],
    timeDeltas: [5000, 1000, 1000, 2000, 1000],
  };
  const s = summarizeCpuProfile(profile, 'node1', 'node1.cpuprofile');
  t.equal(s.totalMs, 10);
  t.equal(s.busyMs, 5, 'idle is not busy');
  t.same(s.categories.map((c) => [c.name, c.share]), [['meshlet code', 0.4], ['HTTP/2 (node:http2)', 0.4], ['garbage collection', 0.2]]);
  t.same(s.topFunctions.map((f) => [f.name, f.location, f.selfMs]), [
    ['splice', 'dist/src/agent/splice.js:10', 2],
    ['write', 'node:internal/http2/core:101', 2],
  ]);
  t.equal(categoryOf('write', 'file:///repo/node_modules/pino/lib/proto.js'), 'logging (pino)');
  t.equal(categoryOf('f', 'file:///repo/node_modules/koffi/dist/src/index.js'), 'other dependencies', 'a package\'s dist/src is not meshlet\'s');
  t.equal(categoryOf('onread', 'node:_tls_wrap'), 'TLS (node:tls)');
});
