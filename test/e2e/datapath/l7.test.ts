/**
 * L7 end to end in a lab (issue 11): two nodes with real agents, real capture and tunnels,
 * real HTTP/1.1, h2c and gRPC clients and servers in pods. node1 has the client; node2 has
 * three `web` pods, a `canary` and a `stats` pod. One lab serves every subtest, in order.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { stringify } from 'yaml';
import { labManifests, withLab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';
import {
  PEER,
  connectionLines,
  counts,
  diff,
  goawayCodes,
  nextJsonLine,
  peer,
  requestLines,
  requestsByCode,
  rss,
  startServer,
  sum,
  until,
  type Counts,
  type Json,
} from './l7-lab.js';

// Several 100 MB transfers and 10,000 requests through two agents on a shared 2-core host.
t.setTimeout(420_000);

const MB = 1024 * 1024;
/** The agent's default protocol-detection wait (docs/l7.md). */
const DETECTION_MS = 200;

const httpPort = (name: string, port = 81): { name: string; port: number; targetPort: number } => ({ name, port, targetPort: 8080 });
const web = { app: 'web' };

const topology: LabTopology = {
  name: `l7${process.pid % 100000}`,
  nodes: [
    { name: 'node1', labels: { 'topology.kubernetes.io/zone': 'zone-a' } },
    { name: 'node2', labels: { 'topology.kubernetes.io/zone': 'zone-b' } },
  ],
  namespaces: [{ name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
    { name: 'web1', namespace: 'demo', node: 'node2', serviceAccount: 'web', labels: web },
    { name: 'web2', namespace: 'demo', node: 'node2', serviceAccount: 'web', labels: web },
    { name: 'web3', namespace: 'demo', node: 'node2', serviceAccount: 'web', labels: web },
    { name: 'canary', namespace: 'demo', node: 'node2', serviceAccount: 'canary', labels: { app: 'canary' } },
    { name: 'stats', namespace: 'demo', node: 'node2', serviceAccount: 'stats', labels: { app: 'stats' } },
    { name: 'near', namespace: 'demo', node: 'node1', serviceAccount: 'loc', labels: { app: 'loc' } },
    { name: 'far', namespace: 'demo', node: 'node2', serviceAccount: 'loc', labels: { app: 'loc' } },
  ],
  services: [
    {
      name: 'web',
      namespace: 'demo',
      selector: web,
      // 80: undeclared (a name that names no protocol: detected); 81: declared by name; 9090: gRPC by appProtocol.
      ports: [{ name: 'plain', port: 80, targetPort: 8080 }, httpPort('http-web'), { name: 'rpc', port: 9090, targetPort: 9090, appProtocol: 'grpc' }],
    },
    { name: 'canary', namespace: 'demo', selector: { app: 'canary' }, ports: [httpPort('http')] },
    { name: 'front', namespace: 'demo', selector: web, ports: [httpPort('http-front')] },
    {
      name: 'banner',
      namespace: 'demo',
      selector: web,
      // 25: undeclared (sniffed, then opaque); 26: appProtocol tcp; 27: the opaque-ports annotation.
      ports: [{ name: 'mail', port: 25, targetPort: 7000 }, { name: 'mail-tcp', port: 26, targetPort: 7000, appProtocol: 'tcp' }, { name: 'mail-annotated', port: 27, targetPort: 7000 }],
      annotations: { 'meshlet.io/opaque-ports': '27' },
    },
    { name: 'lb-rr', namespace: 'demo', selector: web, ports: [httpPort('http')] },
    { name: 'lb', namespace: 'demo', selector: web, ports: [httpPort('http')] },
    { name: 'lb-hash', namespace: 'demo', selector: web, ports: [httpPort('http')] },
    { name: 'lb-ewma', namespace: 'demo', selector: web, ports: [httpPort('http')] },
    { name: 'stats', namespace: 'demo', selector: { app: 'stats' }, ports: [httpPort('http')] },
    { name: 'loc', namespace: 'demo', selector: { app: 'loc' }, ports: [httpPort('http')] },
    { name: 'loc-any', namespace: 'demo', selector: { app: 'loc' }, ports: [httpPort('http')] },
  ],
};

const POLICIES = ['lb-rr: {type: RoundRobin}', 'lb-hash: {type: ConsistentHash, consistentHash: {type: Header, header: {name: x-session}, algorithm: RingHash}}', 'lb-ewma: {type: PeakEWMA}', 'loc: {type: LeastRequest, zoneAware: {preferLocal: true}}']
  .map((line) => {
    const at = line.indexOf(': ');
    const [svc, lb] = [line.slice(0, at), line.slice(at + 2)];
    return `apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: ${svc}, namespace: demo}
spec:
  targetRefs: [{group: "", kind: Service, name: ${svc}}]
  loadBalancer: ${lb}
`;
  })
  .join('---\n');

const FRONT_ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: front, namespace: demo}
spec:
  parentRefs: [{group: "", kind: Service, name: front, port: 81}]
  rules:
    - matches: [{headers: [{name: x-canary, value: "yes"}]}]
      backendRefs: [{name: canary, port: 81}]
    - matches: [{path: {type: PathPrefix, value: /v2}}]
      backendRefs: [{name: canary, port: 81}]
    - matches: [{path: {type: PathPrefix, value: /old}}]
      filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}, statusCode: 301}}]
    - matches: [{path: {type: PathPrefix, value: /rewrite}}]
      filters: [{type: URLRewrite, urlRewrite: {hostname: rewritten.example, path: {type: ReplacePrefixMatch, replacePrefixMatch: /backend}}}]
      backendRefs: [{name: web, port: 81}]
    - backendRefs: [{name: web, port: 81, weight: 90}, {name: canary, port: 81, weight: 10}]
`;


t.test('L7 through two agents: detection, routing, gRPC, big bodies, balancing, telemetry, bad input', async (t) => {
  if (!requireNamespaces(t)) return;
  await withLab(topology, { agents: false }, async (lab) => {
    lab.writeConfig('traffic-policies.yaml', POLICIES);
    for (const node of ['node1', 'node2']) await lab.startAgent(node);
    const servers = new Map<string, ChildProcess>();
    // Independent pods: started at once (each resolves when its own server listens).
    const podNames = ['web1', 'web2', 'web3', 'canary', 'stats', 'near', 'far'];
    (await Promise.all(podNames.map((pod) => startServer(lab, pod)))).forEach((child, i) => servers.set(podNames[i] as string, child));
    const vip = (name: string): string => lab.serviceVip('demo', name);
    const nonce = randomBytes(4).toString('hex');
    const pods = labManifests(lab.plan).get('pods.yaml') ?? [];
    const render = (objs: readonly Json[]): string => objs.map((o) => stringify(o)).join('---\n');
    const scrape = async (node: string): Promise<string> => {
      const r = await peer(lab, node, ['metrics', `http://${lab.nodeAddress(node)}:15020/metrics`, 'istio_requests_total{']);
      if (r['ok'] !== true) throw new Error(`scraping ${node}: ${JSON.stringify(r)}`);
      return (r['lines'] as string[]).join('\n');
    };

    await t.test('detection: HTTP/1.1 and h2c on an undeclared port; server-first and opaque ports', async (t) => {
      const h1Path = `/detect-h1-${nonce}`;
      const h1 = await peer(lab, 'client', ['once', 'GET', `http://${vip('web')}:80${h1Path}`]);
      t.equal(h1['status'], 200, JSON.stringify(h1));
      t.match((h1['body'] as Json)['pod'], /^web[123]$/, 'a web pod answered');
      t.ok(await until(() => requestLines(lab, 'node1', h1Path).length === 1), 'node1 logged one request line for the HTTP/1.1 request');
      t.match(requestLines(lab, 'node1', h1Path)[0], { reporter: 'source', method: 'GET', proto: 'HTTP/1.1', status: 200, service: 'demo/web' });
      t.ok(await until(() => requestLines(lab, 'node2', h1Path).length === 1), 'node2 logged it as the destination');

      const h2Path = `/detect-h2-${nonce}`;
      const h2 = await peer(lab, 'client', ['h2', `http://${vip('web')}:80${h2Path}`, '5']);
      t.same(h2['statuses'], { 200: 5 }, JSON.stringify(h2));
      t.equal(((h2['first'] as Json)['body'] as Json)['version'], '2.0', 'the workload was spoken to in HTTP/2');
      t.ok(await until(() => requestLines(lab, 'node1', h2Path).length === 5), 'node1 logged five h2c request lines');
      t.match(requestLines(lab, 'node1', h2Path)[0], { method: 'GET', proto: 'HTTP/2', status: 200 });

      // Server-first on an undeclared port: the agent waits for the client's first bytes, gives
      // up after the detection timeout, then carries the connection as opaque TCP.
      const sniffed = await peer(lab, 'client', ['banner', vip('banner'), '25']);
      t.equal(sniffed['ok'], true, JSON.stringify(sniffed));
      t.match(sniffed['data'], /^220 web[123] ready\r\n$/, 'the banner arrived');
      const waited = Number(sniffed['ms']);
      t.comment(`server-first banner on an undeclared port after ${waited} ms (detection timeout ${DETECTION_MS} ms)`);
      t.ok(waited >= DETECTION_MS - 20, `the port was sniffed: the banner waited for the detection timeout (${waited} ms)`);
      t.ok(waited < 2000, `the delay is bounded (${waited} ms < 2000 ms)`);

      for (const port of [26, 27]) {
        const how = port === 26 ? 'appProtocol: tcp' : 'meshlet.io/opaque-ports';
        const times: number[] = [];
        // The best of five: one slow start on a busy host must not pass for a detection wait.
        for (let i = 0; i < 5; i++) {
          const r = await peer(lab, 'client', ['banner', vip('banner'), String(port)]);
          t.equal(r['ok'], true, JSON.stringify(r));
          times.push(Number(r['ms']));
        }
        t.comment(`opaque port ${port} (${how}): banner after ${times.join(', ')} ms`);
        t.ok(Math.min(...times) < DETECTION_MS, `${how}: the banner comes at once, no detection wait (min ${Math.min(...times)} ms)`);
        // An HTTP request on an opaque port is bytes: echoed verbatim, never parsed.
        const probePath = `/opaque-${port}-${nonce}`;
        const text = `GET ${probePath} HTTP/1.1\r\nHost: banner\r\n\r\n`;
        const echoed = await peer(lab, 'client', ['banner', vip('banner'), String(port), text]);
        t.equal(echoed['data'], `${(echoed['data'] as string).split('\r\n')[0]}\r\n${text}`, `${how}: the request bytes reached the server verbatim`);
        const dst = `${vip('banner')}:${port}`;
        t.ok(await until(() => connectionLines(lab, 'node1', (l) => l['dst'] === dst).length >= 6), `${how}: node1 logged the connections to ${dst}`);
        t.same([...new Set(connectionLines(lab, 'node1', (l) => l['dst'] === dst).map((l) => l['mode']))], ['tunnel'], `${how}: carried as opaque TCP`);
        t.same(requestLines(lab, 'node1', probePath), [], `${how}: no request line: never sniffed`);
      }
    });

    await t.test('keep-alive spreads, canary split, matches, redirect and rewrite', async (t) => {
      const ka = await peer(lab, 'client', ['requests', `http://${vip('web')}:81/ka`, '300', '1']);
      t.equal(ka['sockets'], 1, 'one client connection');
      t.same(ka['statuses'], { 200: 300 }, JSON.stringify(ka));
      const kaPods = counts(ka, 'pods');
      t.comment(`300 requests on one connection: ${JSON.stringify(kaPods)}`);
      t.same(Object.keys(kaPods).sort(), ['web1', 'web2', 'web3'], 'all three endpoints served');
      for (const pod of ['web1', 'web2', 'web3']) t.ok((kaPods[pod] ?? 0) >= 30, `${pod} served ${kaPods[pod]} of 300 (not pinned)`);

      lab.writeConfig('front-route.yaml', FRONT_ROUTE);
      const routed = await until(async () => {
        const r = await peer(lab, 'client', ['once', 'GET', `http://${vip('front')}:81/probe`, 'x-canary:yes']);
        return (r['body'] as Json | undefined)?.['pod'] === 'canary';
      }, 20_000);
      t.ok(routed, 'the HTTPRoute written live took effect');

      // Each request picks canary with p = 0.1, so the canary share over n requests has a standard
      // deviation of sqrt(0.09 / n). With n = 4,000 that is 0.0047: the ±0.02 bound is 4.2 of them
      // (a correct split fails once in about 40,000 runs), and a split off by 5 points (0.15 or
      // 0.05) lands outside it with probability above 0.99999. 10,000 requests bought nothing
      // more than a 6.7-sigma margin and 8-10 s of the suite.
      const n = 4_000;
      const split = await peer(lab, 'client', ['requests', `http://${vip('front')}:81/split`, String(n), '32'], 150_000);
      t.same(split['statuses'], { 200: n }, `${n} answered (${JSON.stringify(split['errors'])})`);
      const splitPods = counts(split, 'pods');
      const canaryShare = (splitPods['canary'] ?? 0) / n;
      const webShare = sum(splitPods, (k) => /^web[123]$/.test(k)) / n;
      t.comment(`90/10 split over ${n} requests in ${split['ms']} ms: ${JSON.stringify(splitPods)}`);
      t.ok(Math.abs(canaryShare - 0.1) <= 0.02, `canary share ${canaryShare} within 0.10 ± 0.02`);
      t.ok(Math.abs(webShare - 0.9) <= 0.02, `web share ${webShare} within 0.90 ± 0.02`);

      const header = await peer(lab, 'client', ['requests', `http://${vip('front')}:81/split`, '20', '4', 'x-canary:yes']);
      t.same(header['pods'], { canary: 20 }, 'a header match routes to canary');
      const path = await peer(lab, 'client', ['requests', `http://${vip('front')}:81/v2/thing`, '20', '4']);
      t.same(path['pods'], { canary: 20 }, 'a path prefix match routes to canary');
      const notPrefix = await peer(lab, 'client', ['requests', `http://${vip('front')}:81/v2x`, '20', '4']);
      t.ok(sum(counts(notPrefix, 'pods'), (k) => k.startsWith('web')) > 0, `/v2x is not under the /v2 prefix: the split applies (${JSON.stringify(notPrefix['pods'])})`);

      const redirect = await peer(lab, 'client', ['once', 'GET', `http://${vip('front')}:81/old/x?q=1`]);
      t.equal(redirect['status'], 301, 'the redirect status of the filter');
      t.equal((redirect['headers'] as Json)['location'], `http://${vip('front')}:81/new/x?q=1`, 'Location: prefix replaced, host and Service port kept, query kept');
      t.equal((redirect['headers'] as Json)['x-pod'], undefined, 'answered by the agent, no workload involved');

      const rewrite = await peer(lab, 'client', ['once', 'GET', `http://${vip('front')}:81/rewrite/a/b?x=1`]);
      t.equal(rewrite['status'], 200);
      t.match(rewrite['body'], { url: '/backend/a/b?x=1', host: 'rewritten.example', pod: /^web[123]$/ }, 'the server saw the rewritten path and host');
    });

    await t.test('gRPC unary and streaming; 100 MB each way; a slow reader is not buffered', async (t) => {
      const g = await peer(lab, 'client', ['grpc', `${vip('web')}:9090`]);
      t.equal(g['ok'], true, JSON.stringify(g));
      t.match(g['unary'], { code: 0, value: { echo: 'hello', pod: /^web[123]$/ }, trailer: { 'x-trailer': /^from-web[123]$/ } }, 'unary: value and trailing metadata');
      const stream = g['stream'] as Json;
      t.equal(stream['code'], 0);
      t.same(stream['items'], Array.from({ length: 200 }, (_, i) => i), '200 streamed messages in order');
      t.same(stream['trailer'], { 'x-count': '200' }, 'streaming trailers intact');

      const size = 100 * MB;
      const up = await peer(lab, 'client', ['upload', `http://${vip('web')}:81/upload`, String(size)], 120_000);
      t.equal(up['status'], 200, JSON.stringify(up).slice(0, 500));
      t.equal((up['server'] as Json)['bytes'], size, 'the server received 100 MB');
      t.equal((up['server'] as Json)['sha256'], up['sentSha256'], 'upload: server hash = client hash');
      t.comment(`100 MB upload in ${up['ms']} ms`);
      const down = await peer(lab, 'client', ['download', `http://${vip('web')}:81/download?bytes=${size}`, String(size)], 120_000);
      t.equal(down['bytes'], size, JSON.stringify(down));
      t.equal(down['sha256'], down['expectedSha256'], 'download: client hash = what the server sent');
      t.comment(`100 MB download in ${down['ms']} ms`);

      const pids = ['node1', 'node2'].map((n) => lab.agentPid(n) as number);
      const base = pids.map(rss);
      const slow = lab.spawnNode('client', PEER, ['download', `http://${vip('web')}:81/download?bytes=${size}`, String(size), String(MB)], { stdio: ['pipe', 'pipe', 'pipe'] });
      const paused = await nextJsonLine(slow, 60_000);
      t.ok(Number(paused['paused']) >= MB, `the client stopped reading after ${paused['paused']} bytes`);
      // An agent that buffered the body would take in the rest (~99 MB) while the client sleeps.
      const peak = [...base];
      for (let i = 0; i < 20; i++) {
        await sleep(250);
        pids.forEach((pid, k) => (peak[k] = Math.max(peak[k] as number, rss(pid))));
      }
      const finished = nextJsonLine(slow, 120_000);
      slow.stdin?.write('go\n');
      const done = await finished;
      t.equal(done['sha256'], done['expectedSha256'], 'the slow read completes intact');
      pids.forEach((_, k) => {
        const growth = ((peak[k] as number) - (base[k] as number)) / MB;
        t.comment(`node${k + 1} agent RSS ${((base[k] as number) / MB).toFixed(1)} MB -> peak ${((peak[k] as number) / MB).toFixed(1)} MB during the paused read`);
        t.ok(growth < 50, `node${k + 1} agent grew ${growth.toFixed(1)} MB (< 50 MB) while a 100 MB body waited on a slow reader`);
      });
    });

    await t.test('WebSocket echo through the mesh (detected and declared HTTP ports)', async (t) => {
      for (const port of [80, 81]) {
        const ws = await peer(lab, 'client', ['websocket', `http://${vip('web')}:${port}/ws`, '20']);
        t.equal(ws['status'], 101, `port ${port}: 101 Switching Protocols (${JSON.stringify(ws).slice(0, 300)})`);
        t.equal(ws['acceptOk'], true, `port ${port}: Sec-WebSocket-Accept from the server's own handshake`);
        const pod = String(ws['pod']);
        t.match(pod, /^web[123]$/);
        t.same(ws['echoes'], Array.from({ length: 20 }, (_, i) => `${pod}:message-${i}`), `port ${port}: 20 messages echoed in order after the 101`);
      }
    });

    await t.test('gRPC: an error status sent trailers-only (NOT_FOUND) reaches the client with its trailers', async (t) => {
      // Once forwarded as HEADERS without END_STREAM, then RST_STREAM(NO_ERROR): grpc-js saw
      // "Call ended without gRPC status" (13) instead of 5.
      const g = await peer(lab, 'client', ['grpc', `${vip('web')}:9090`]);
      t.match(g['notFound'], { code: 5, details: 'no such thing', trailer: { 'x-trailer': /^from-web[123]$/ } }, `NOT_FOUND with its message and trailers: ${JSON.stringify(g['notFound'])}`);
    });

    await t.test('load balancing: least-request vs round robin, consistent hash, peak EWMA', async (t) => {
      // Well above what the fast endpoints take on a loaded host (a few ms to tens of ms).
      const slowMs = 150;
      const slowShare = async (svc: string, slowPod: string, n: number, conc: number): Promise<number> => {
        const r = await peer(lab, 'client', ['requests', `http://${vip(svc)}:81/lb?slow=${slowPod}&ms=${slowMs}`, String(n), String(conc)], 120_000);
        t.same(r['statuses'], { 200: n }, `${svc}: all answered (${JSON.stringify(r['errors'])})`);
        t.comment(`${svc} with ${slowPod} ${slowMs} ms slower, ${conc} in flight: ${JSON.stringify(r['pods'])}`);
        return (counts(r, 'pods')[slowPod] ?? 0) / n;
      };
      const rr = await slowShare('lb-rr', 'web3', 300, 12);
      const lr = await slowShare('lb', 'web3', 300, 12);
      t.ok(Math.abs(rr - 1 / 3) < 0.05, `round robin gives the slow endpoint its third (${rr.toFixed(3)})`);
      t.ok(lr < rr * 0.75, `least-request sends the slow endpoint less (${lr.toFixed(3)} < 0.75 x ${rr.toFixed(3)})`);

      // Consistent hash on x-session: each session stays on one endpoint.
      const hashUrl = `http://${vip('lb-hash')}:81/s`;
      const before = (await peer(lab, 'client', ['sessions', hashUrl, '30', '6', 'x-session']))['sessions'] as Record<string, string[]>;
      const keys = Object.keys(before);
      t.equal(keys.length, 30);
      t.same(keys.filter((k) => before[k]?.length !== 1), [], 'every session stayed on one endpoint over 6 requests');
      const owners = new Set(keys.map((k) => before[k]?.[0]));
      t.ok(owners.size >= 2, `sessions spread over endpoints (${[...owners].join(', ')})`);

      // web3 leaves (its pod is deleted from the registry).
      lab.writeConfig('pods.yaml', render(pods.filter((p) => (p['metadata'] as Json)['name'] !== 'web3')));
      const gone = await until(async () => {
        const r = await peer(lab, 'client', ['requests', `http://${vip('lb-rr')}:81/gone`, '12', '1']);
        return r['ok'] === true && counts(r, 'pods')['web3'] === undefined;
      }, 20_000);
      t.ok(gone, 'web3 left the endpoints');
      const after = (await peer(lab, 'client', ['sessions', hashUrl, '30', '6', 'x-session']))['sessions'] as Record<string, string[]>;
      t.same(keys.filter((k) => after[k]?.length !== 1), [], 'still one endpoint per session');
      const moved = keys.filter((k) => after[k]?.[0] !== before[k]?.[0]);
      const fromStaying = moved.filter((k) => before[k]?.[0] !== 'web3');
      const onWeb3 = keys.filter((k) => before[k]?.[0] === 'web3');
      t.same(fromStaying, [], 'no session of an endpoint that stayed moved (ring hash)');
      t.same(moved.sort(), onWeb3.sort(), `only web3's sessions moved (${moved.length} of 30, ~1/3 expected)`);
      t.ok(moved.length <= 15, `at most about 1/N of the sessions moved (${moved.length} of 30)`);
      lab.writeConfig('pods.yaml', render(pods));
      const back = await until(async () => {
        const r = await peer(lab, 'client', ['requests', `http://${vip('lb-rr')}:81/back`, '12', '1']);
        return (counts(r, 'pods')['web3'] ?? 0) > 0;
      }, 20_000);
      t.ok(back, 'web3 is back');

      // Peak EWMA: web2 becomes slow mid-test; its share drops well below a third.
      const warm = await peer(lab, 'client', ['requests', `http://${vip('lb-ewma')}:81/lb`, '150', '8']);
      t.equal(counts(warm, 'statuses')['200'], 150, 'warm-up, nobody slow');
      const ewma = await slowShare('lb-ewma', 'web2', 300, 8);
      t.ok(ewma < 0.2, `peak EWMA avoids the endpoint made slow (${ewma.toFixed(3)} < 0.2)`);
    });

    await t.test('locality: the local zone first; a refusing endpoint retried elsewhere; failover when it is gone', async (t) => {
      const loc = async (svc: string, n: number): Promise<Json> => peer(lab, 'client', ['requests', `http://${vip(svc)}:81/zone`, String(n), '4']);
      const local = await loc('loc', 60);
      t.same(local['pods'], { near: 60 }, `preferLocal: every request to the endpoint in zone-a (node1) (${JSON.stringify({ statuses: local['statuses'], errors: local['errors'], error: local['error'] })})`);
      const any = await loc('loc-any', 60);
      t.same(Object.keys(counts(any, 'pods')).sort(), ['far', 'near'], `without the policy both zones serve (${JSON.stringify({ pods: any['pods'], statuses: any['statuses'], errors: any['errors'], error: any['error'] })})`);
      // near's server goes away: its connects are refused before any byte was sent.
      const near = servers.get('near') as ChildProcess;
      const exited = new Promise((resolve) => near.once('exit', resolve));
      near.kill('SIGTERM');
      await exited;
      const refused = await loc('loc', 30);
      // The destination side answers a refused connect with a response (503, meshlet-error:
      // connect_refused): the source side must try another endpoint, not pass it on.
      t.same(refused['statuses'], { 200: 30 }, `refused connects retried on another endpoint (${JSON.stringify(refused['statuses'])})`);
      t.same(refused['pods'], { far: 30 }, `served from zone-b (${JSON.stringify(refused['pods'])})`);
      lab.writeConfig('pods.yaml', render(pods.filter((p) => (p['metadata'] as Json)['name'] !== 'near')));
      const failedOver = await until(async () => {
        const r = await peer(lab, 'client', ['requests', `http://${vip('loc')}:81/zone`, '12', '2']);
        return JSON.stringify(r['pods']) === JSON.stringify({ far: 12 }) && JSON.stringify(r['statuses']) === JSON.stringify({ 200: 12 });
      }, 20_000);
      t.ok(failedOver, 'no endpoint left in zone-a: zone-b serves');
      lab.writeConfig('pods.yaml', render(pods));
    });

    await t.test('istio_requests_total counts the requests by response code on both reporters', async (t) => {
      const principal = 'spiffe://cluster.local/ns/demo/sa/stats';
      // Both reporters name the Service (the destination learns it from the source's
      // meshlet-service), so Istio's service dashboards see both sides.
      const service = 'stats.demo.svc.cluster.local';
      const src = { reporter: 'source', destination_principal: principal, destination_service: service };
      const dst = { reporter: 'destination', destination_principal: principal, destination_service: service };
      const before1 = requestsByCode(await scrape('node1'), src);
      const before2 = requestsByCode(await scrape('node2'), dst);
      const [ok, missing] = await Promise.all([
        peer(lab, 'client', ['requests', `http://${vip('stats')}:81/status/200`, '50', '4']),
        peer(lab, 'client', ['requests', `http://${vip('stats')}:81/status/404`, '10', '2']),
      ]);
      t.same(ok['statuses'], { 200: 50 });
      t.same(missing['statuses'], { 404: 10 });
      const want = { 200: 50, 404: 10 };
      let got1: Counts = {};
      let got2: Counts = {};
      await until(async () => {
        got1 = diff(requestsByCode(await scrape('node1'), src), before1);
        got2 = diff(requestsByCode(await scrape('node2'), dst), before2);
        return JSON.stringify(got1) === JSON.stringify(want) && JSON.stringify(got2) === JSON.stringify(want);
      }, 10_000);
      t.same(got1, want, 'node1 (reporter source): 50 x 200, 10 x 404');
      t.same(got2, want, 'node2 (reporter destination): 50 x 200, 10 x 404');
    });

    await t.test('bad input: 400 and close, nothing else affected, the agent lives', async (t) => {
      const raw = (port: number, text: string | Buffer, service = 'web'): Promise<Json> =>
        peer(lab, 'client', ['raw', vip(service), String(port), Buffer.from(text).toString('base64')]);
      const cases: Record<string, string> = {
        'a header line without a colon': 'GET /bad HTTP/1.1\r\nHost: web\r\nBad Header\r\n\r\n',
        'Content-Length and Transfer-Encoding (smuggling)': 'POST /smuggle HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: web\r\n\r\n',
        'a malformed request line': 'GET /x y HTTP/1.1\r\nHost: web\r\n\r\n',
        // Past the agent's 16 KiB head limit (DEFAULT_HTTP_SERVER_LIMITS.maxHeaderBytes).
        'oversized headers': `GET /big HTTP/1.1\r\nHost: web\r\nx-big: ${'a'.repeat(20 * 1024)}\r\n\r\n`,
      };
      // Other connections carry on meanwhile: a keep-alive load runs through the bad input.
      const bystander = lab.spawnNode('client', PEER, ['requests', `http://${vip('web')}:81/bystander`, '200', '2']);
      const bystanderDone = nextJsonLine(bystander, 120_000);
      // Lines logged before the cases: a case's connection is the new line with its source
      // address (an earlier connection of the run may have used the same client port).
      const seen = new Set(connectionLines(lab, 'node1', () => true).map((l) => JSON.stringify(l)));
      // Each case on its own connection: sent at once, checked in order.
      const answers = await Promise.all(Object.values(cases).map((text) => raw(81, text)));
      for (const [i, [what]] of Object.entries(cases).entries()) {
        const r = answers[i] as Json;
        t.match(r['data'], what === 'oversized headers' ? /^HTTP\/1\.1 431 / : /^HTTP\/1\.1 400 /, `${what}: ${what === 'oversized headers' ? 431 : 400}`);
        t.equal(r['closed'], true, `${what}: the connection closes`);
        t.notMatch(r['data'], /x-pod/i, `${what}: nothing reached a workload's handler`);
        const src = `${lab.podAddress('client')}:${String(r['localPort'])}`;
        const fresh = (l: Json): boolean => l['src'] === src && !seen.has(JSON.stringify(l));
        t.ok(await until(() => connectionLines(lab, 'node1', fresh).length === 1), `${what}: node1 logged the connection`);
        t.match(connectionLines(lab, 'node1', fresh)[0], { mode: 'http', reason: /HPE_/ }, `${what}: refused by the agent's parser, with its error`);
      }
      t.same(requestLines(lab, 'node2', '/smuggled'), [], 'the smuggled request was never forwarded');
      const other = await bystanderDone;
      t.same(other['statuses'], { 200: 200 }, `a keep-alive client meanwhile: 200 requests answered (${JSON.stringify(other['errors'])})`);

      // HTTP/2 garbage on the declared gRPC port: the session ends (GOAWAY), the agent lives.
      const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
      const junk = Buffer.from([0, 0, 4, 0x63, 0xff, 0, 0, 0, 1, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
      // The agent does not close after its GOAWAY (see the FIN test below): read until it came.
      const h2 = await peer(lab, 'client', ['raw', vip('web'), '9090', Buffer.concat([preface, Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]), junk, junk]).toString('base64'), 'goaway']);
      t.same(goawayCodes(Buffer.from(String(h2['data']), 'latin1')), [6], 'invalid HTTP/2 frames: GOAWAY FRAME_SIZE_ERROR (RFC 9113 4.2)');

      const next = await peer(lab, 'client', ['once', 'GET', `http://${vip('web')}:81/after-bad-input`]);
      t.equal(next['status'], 200, 'a new connection works');
      const g = await peer(lab, 'client', ['grpc', `${vip('web')}:9090`]);
      t.match(g['unary'], { code: 0 }, 'gRPC still works');
      for (const node of ['node1', 'node2']) {
        const pid = lab.agentPid(node);
        t.not(pid, undefined, `${node}'s agent is still running`);
        const ready = await peer(lab, node, ['once', 'GET', 'http://127.0.0.1:15021/healthz/ready']);
        t.equal(ready['status'], 200, `${node}'s agent is ready`);
      }
    });

    await t.test('an HTTP/2 client that closes its TCP connection (FIN, no GOAWAY) is closed by the agent', async (t) => {
      // Once kept in CLOSE-WAIT, and in the connection table, for good.
      const gauge = 'meshlet_tcp_connections_active{direction="outbound",mode="http"}';
      const active = async (): Promise<number> => {
        const r = await peer(lab, 'node1', ['metrics', `http://${lab.nodeAddress('node1')}:15020/metrics`, gauge]);
        return Number(String((r['lines'] as string[] | undefined)?.[0] ?? `${gauge} 0`).split(' ').pop());
      };
      const closeWait = async (): Promise<number> => {
        const r = await lab.exec('node1', 'ss', ['-tnH', 'state', 'close-wait', '( sport = :15001 )']);
        return r.stdout.split('\n').filter((l) => l.trim() !== '').length;
      };
      const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
      const oversized = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
      const clients: Record<string, () => Promise<Json>> = {
        // `h2` closes its session and exits at once: the kernel sends FIN for it.
        'an h2c client that exits after its request': () => peer(lab, 'client', ['h2', `http://${vip('web')}:80/fin`, '1']),
        // The agent answers GOAWAY FRAME_SIZE_ERROR; the client closes once it has it.
        'a client that sent a bad frame and got GOAWAY': () => peer(lab, 'client', ['raw', vip('web'), '9090', Buffer.concat([preface, oversized]).toString('base64'), 'goaway']),
      };
      for (const [what, run] of Object.entries(clients)) {
        const [active0, waiting0] = [await active(), await closeWait()];
        const r = await run();
        t.equal(r['ok'], true, `${what}: ${JSON.stringify(r).slice(0, 200)}`);
        // After the agent's own GOAWAY (a connection error) the client's FIN is not acted on
        // (Node 20; Node 24 does): a short wait then, the check is a TODO.
        const goaway = what.includes('GOAWAY');
        let last = { active: -1, waiting: -1 };
        await until(async () => {
          last = { active: await active(), waiting: await closeWait() };
          return last.active <= active0 && last.waiting <= waiting0;
        }, goaway ? 3_000 : 10_000);
        t.comment(`${what}: before ${active0} active, ${waiting0} in CLOSE-WAIT; after: ${JSON.stringify(last)}`);
        const extra = goaway ? { todo: 'after nghttp2 sends GOAWAY for a connection error, Node stops reading the socket and tells JavaScript nothing: the client FIN is not seen, and the session ends only at the 120 s idle timeout' } : {};
        t.ok(last.active <= active0, `${what}: the connection left the agent's table (${gauge} ${last.active}, before ${active0})`, extra);
        t.ok(last.waiting <= waiting0, `${what}: no socket left in CLOSE-WAIT on :15001 (${last.waiting}, before ${waiting0})`, extra);
      }
    });

    await t.test('declared HTTP port: what the detector does not take is not carried past the L7 layer', async (t) => {
      // Node's parser (and most servers) accept two spaces after the method; the detector's
      // grammar does not. Carried as opaque bytes (as it once was), the request would reach the
      // workload with no route, no redirect, no request metrics, no L7 policy.
      const r = await peer(lab, 'client', ['raw', vip('front'), '81', Buffer.from('GET  /old/x HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n').toString('base64')]);
      t.notMatch(r['data'], /^HTTP\/1\.1 200 /, `not served by a workload behind the route's back: ${String(r['data']).split('\r\n')[0]}`);
      t.notMatch(r['data'], /x-pod/i, 'no workload saw it');
      // A malformed request line on a declared HTTP port: the agent's own 400, not the workload's.
      // Its line is the new one with its source address (an earlier connection may have used the port).
      const seen = new Set(connectionLines(lab, 'node1', () => true).map((l) => JSON.stringify(l)));
      const bad = await peer(lab, 'client', ['raw', vip('web'), '81', Buffer.from('GET /x y HTTP/1.1\r\nHost: web\r\n\r\n').toString('base64')]);
      const src = `${lab.podAddress('client')}:${String(bad['localPort'])}`;
      const fresh = (l: Json): boolean => l['src'] === src && !seen.has(JSON.stringify(l));
      await until(() => connectionLines(lab, 'node1', fresh).length === 1);
      t.match(connectionLines(lab, 'node1', fresh)[0], { mode: 'http', reason: /HPE_/ }, 'parsed (and refused) by the agent');
    });
  });
});
