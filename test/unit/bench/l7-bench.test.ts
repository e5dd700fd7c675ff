/**
 * The L7 scenarios' pure parts: the HAProxy HTTP pair's configuration, h2load's summary and
 * per-request log, the ports each path dials and declares, and the L7 columns and checks of
 * the report.
 */
import t from 'tap';
import { L7_PATHS, type BenchResults, type RunRecord, type ScenarioResult } from '../../../bench/bench-types.js';
import { benchTopology, httpPort, L7_PORTS, PORTS } from '../../../bench/bench-topology.js';
import { renderHttpPairConfig } from '../../../bench/haproxy-http-config.js';
import { scenarioTable } from '../../../bench/report-markdown.js';
import { l7Scenarios } from '../../../bench/scenarios.js';
import { verdicts } from '../../../bench/summary.js';
import { nearestRank, parseH2load, parseH2loadLog } from '../../../bench/tool-parsers.js';

const PAIR = {
  threads: 1,
  maxConnections: 9900,
  tls: { version: 'TLSv1.3', cipherSuite: 'TLS_AES_256_GCM_SHA384', group: 'X25519' },
  ports: [
    { name: 'http', frontPort: 8081, tlsPort: 28081, serverPort: 8080, protocol: 'http1' as const },
    { name: 'http2', frontPort: 8083, tlsPort: 28083, serverPort: 8082, protocol: 'h2c' as const },
  ],
  frontAddress: '198.18.0.10',
  backAddress: '198.18.0.11',
  serverAddresses: ['198.18.2.11', '198.18.2.12'],
  certKeyFile: '/x/front.pem',
  caFile: '/x/ca.crt',
};

t.test('the HAProxy HTTP pair: mode http, per-request balancing, HTTP/2 over mutual TLS, pinned TLS', async (t) => {
  const front = renderHttpPairConfig({ ...PAIR, role: 'client-side' });
  t.match(front, /\n  mode http\n/);
  t.match(front, /option httplog/, 'one log line per request, like the agents at L7');
  t.match(front, /ssl-default-server-ciphersuites TLS_AES_256_GCM_SHA384/);
  t.match(front, /bind 198\.18\.0\.10:8081\n/);
  t.match(front, /bind 198\.18\.0\.10:8083 proto h2\n/, 'the h2c front takes HTTP/2 prior knowledge');
  t.match(front, /server peer 198\.18\.0\.11:28081 ssl crt \/x\/front\.pem ca-file \/x\/ca\.crt verify required alpn h2\n/);
  t.equal(front.match(/balance leastconn/g)?.length, 2, 'per-request balancing on every backend');
  t.equal(front.match(/http-reuse always/g)?.length, 2, 'server connections shared across clients');
  t.equal(front.match(/set-status 200 reason OK/g)?.length, 1, 'the reason phrase only on the HTTP/1.1 front');
  const back = renderHttpPairConfig({ ...PAIR, role: 'server-side' });
  t.match(back, /bind 198\.18\.0\.11:28081 ssl crt \/x\/front\.pem ca-file \/x\/ca\.crt verify required alpn h2,http\/1\.1\n/);
  t.match(back, /server app1 198\.18\.2\.11:8080\n  server app2 198\.18\.2\.12:8080\n/, 'every endpoint, HTTP/1.1 to the origin');
  t.match(back, /server app1 198\.18\.2\.11:8082 proto h2\n/, 'h2c to the h2c origin');
  t.notMatch(back, /server peer/);
});

const H2LOAD = `finished in 2.00s, 10234.50 req/s, 11.20MB/s
requests: 20469 total, 20533 started, 20469 done, 20460 succeeded, 9 failed, 2 errored, 0 timeout
status codes: 20458 2xx, 0 3xx, 0 4xx, 2 5xx
traffic: 21.80MB (22859000) total
`;

t.test('h2load summary and per-request log', async (t) => {
  const r = parseH2load(H2LOAD);
  t.same({ seconds: r.seconds, rps: r.rps, done: r.done, errors: r.errors }, { seconds: 2, rps: 10_234.5, done: 20_469, errors: 11 }, '9 failed and 2 answers that were not 2xx');
  t.match(r.counts, /^requests: 20469 total.*; status codes: 20458 2xx/);
  const allFailed = parseH2load('finished in 1.00s, 1000.00 req/s, 1KB/s\nrequests: 1000 total, 1010 started, 1000 done, 0 succeeded, 1000 failed, 0 errored, 0 timeout\nstatus codes: 0 2xx, 0 3xx, 0 4xx, 0 5xx\n');
  t.equal(allFailed.errors, 1000, 'a failed request is counted once, not also as a missing 2xx');
  t.throws(() => parseH2load('connect: Connection refused'), { code: 'MESHLET_ERR_HOST_TOOL' });

  t.equal(nearestRank([1, 2, 3, 4], 50), 2);
  t.equal(nearestRank([1, 2, 3, 4], 99), 4);
  t.equal(nearestRank([7], 1), 7);
  t.ok(Number.isNaN(nearestRank([], 50)));
  const rows = Array.from({ length: 100 }, (_, i) => `17965290712${String(i).padStart(5, '0')}\t${i === 0 ? -1 : 200}\t${(100 - i) * 10}`);
  const times = parseH2loadLog(`${rows.join('\n')}\n`);
  t.same(times, { count: 100, non2xx: 1, p50Us: 500, p90Us: 900, p99Us: 990, maxUs: 1000 });
  t.throws(() => parseH2loadLog(''), /no request/);
});

t.test('each path dials its own port, and the Service declares L4 and L7 ports apart', async (t) => {
  t.same(L7_PATHS.map((p) => [p, httpPort(p, 'http1'), httpPort(p, 'h2c')]), [
    ['direct', PORTS.web, L7_PORTS.h2c],
    ['meshlet', PORTS.web, L7_PORTS.h2c],
    ['meshlet-l7', L7_PORTS.http, L7_PORTS.http2],
    ['haproxy-http', L7_PORTS.http, L7_PORTS.http2],
  ]);
  const ports = benchTopology('x').services[0]?.ports ?? [];
  const byPort = new Map(ports.map((p) => [p.port, p]));
  t.same(byPort.get(L7_PORTS.http), { name: 'http', port: L7_PORTS.http, targetPort: PORTS.web, appProtocol: 'http' });
  t.same(byPort.get(L7_PORTS.http2), { name: 'http2', port: L7_PORTS.http2, targetPort: L7_PORTS.h2c, appProtocol: 'http2' });
  t.not(ports.length, 0);
  const l4 = ports.filter((p) => p.port !== L7_PORTS.http && p.port !== L7_PORTS.http2);
  t.same(l4.map((p) => p.appProtocol), l4.map(() => 'tcp'), 'the L4 ports are never sniffed: the L4 comparison stays L4');
});

function run(path: RunRecord['path'], values: Record<string, number>): RunRecord {
  return { round: 1, path, values, wallMs: 1 };
}

t.test('L7 tables and checks compare meshlet L7 with the HAProxy HTTP pair', async (t) => {
  const [h1, , lat] = l7Scenarios();
  if (h1 === undefined || lat === undefined) throw new Error('no L7 scenarios');
  const h1Result: ScenarioResult = {
    ...h1,
    runs: [
      run('direct', { rps: 1000 }),
      run('meshlet', { rps: 600, cpuPer1k: 0.1, peakRssMiB: 100 }),
      run('meshlet-l7', { rps: 400, cpuPer1k: 0.3, peakRssMiB: 120 }),
      run('haproxy-http', { rps: 500, cpuPer1k: 0.2, peakRssMiB: 40 }),
    ],
  };
  const latResult: ScenarioResult = {
    ...lat,
    runs: [run('direct', { p50Us: 100 }), run('meshlet', { p50Us: 200 }), run('meshlet-l7', { p50Us: 250 }), run('haproxy-http', { p50Us: 400 })],
  };
  const table = scenarioTable(h1Result, ['direct', 'meshlet', 'haproxy', 'meshlet-l7', 'haproxy-http']);
  t.match(table, /^\| metric \| direct \| meshlet L4 \| meshlet L7 \| HAProxy HTTP pair \| meshlet L7\/direct \| meshlet L7\/HAProxy HTTP pair \|/);
  t.match(table, /\| requests \(\/s\) \| 1,000 \| 600 \| 400 \| 500 \| 0\.40x \| 0\.80x \|/);
  const results: Pick<BenchResults, 'scenarios' | 'paths'> = { scenarios: [h1Result, latResult], paths: L7_PATHS };
  const vs = verdicts(results);
  t.same(vs.map((v) => [v.area, v.meets]), [['throughput', false], ['latency', true], ['cpu', false]]);
  t.match(vs[0]?.what ?? '', /meshlet L7 >= 1\.0x HAProxy HTTP pair/);
  t.match(vs[1]?.detail ?? '', /meshlet L7 adds 150 µs, HAProxy HTTP pair 300 µs/);
  t.same(verdicts({ ...results, paths: ['direct', 'meshlet', 'meshlet-l7'] }), [], 'no L7 check without the HTTP pair');
});
