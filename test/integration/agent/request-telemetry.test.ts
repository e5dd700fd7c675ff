/**
 * Request telemetry end to end in one data plane on 127.0.0.1 (no root: the original
 * destination is injected): HTTP requests captured toward a Service's `http` port go through
 * the source side and the destination side (same node, in-process), and
 * `istio_requests_total` counts exactly the requests sent, by response code, on both
 * reporters; each request gets an access-log line per reporter.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import t from 'tap';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { LogLevels } from '../../../src/agent/admin/log-levels.js';
import { loadAgentConfig } from '../../../src/agent/config.js';
import type { IdentitySource } from '../../../src/agent/identity/manager.js';
import { DataPathMetrics } from '../../../src/agent/proxy/data-path-metrics.js';
import { DataPlane } from '../../../src/agent/proxy/data-plane.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';

const noIdentities: IdentitySource = {
  get: () => undefined,
  ensure: async () => { throw new Error('no tunnel in this test'); },
  getBySni: () => undefined,
} as unknown as IdentitySource;

function workload(name: string, address: string, labels: Record<string, string>): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node: 'node1',
    nodeAddress: '127.0.0.1', serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`,
    labels, tlsMode: 'STRICT', namedPorts: [],
  };
}

/** `{reporter/code: count}` of istio_requests_total. */
function byReporterAndCode(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('istio_requests_total{')) continue;
    const reporter = /reporter="(\w+)"/.exec(line)?.[1];
    const code = /response_code="(\d+)"/.exec(line)?.[1];
    const key = `${reporter}/${code}`;
    out[key] = (out[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

t.test('istio_requests_total counts the requests sent, by code, on both reporters', async (t) => {
  // The workload answers with the status its path names (/status/503 -> 503) and a body naming
  // it; /trailers answers chunked with a trailer.
  const backend = http.createServer((req, res) => {
    req.resume();
    if (req.url === '/trailers') {
      res.writeHead(200, { trailer: 'x-checksum' });
      res.write('chunk1');
      res.write('chunk2');
      res.addTrailers({ 'x-checksum': 'abc' });
      res.end();
      return;
    }
    res.statusCode = Number(/\/status\/(\d+)/.exec(req.url ?? '')?.[1] ?? 200);
    res.end(`body-${res.statusCode}-${'x'.repeat(2000)}`);
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  t.teardown(() => void backend.close());
  const backendPort = (backend.address() as AddressInfo).port;

  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write: (c: Buffer, _e, done) => { lines.push(JSON.parse(c.toString()) as Record<string, unknown>); done(); } });
  const logLevels = new LogLevels(pino({ level: 'info' }, sink));
  const config = loadAgentConfig(
    { node: 'node1', config: '/unused', bind: '127.0.0.1', outboundPort: 0, inboundPort: 0, tunnelPort: 0, readinessPort: 0, adminPort: 0, metricsPort: 0, loopbackWorkloads: true },
    {},
  );
  const registry = new Registry();
  const client = workload('client', '127.0.0.2', { app: 'client', version: 'v1' });
  const server = workload('server', '127.0.0.1', { app: 'server', version: 'v2' });
  const plane = new DataPlane({
    config, logLevels, identities: noIdentities, metrics: new DataPathMetrics(registry),
    captured: () => ({ source: '127.0.0.2', destination: { address: '127.0.0.9', port: 80, family: 4 } }),
  });
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'node1', nodeAddress: '127.0.0.1', trustDomain: 'cluster.local',
    localWorkloads: [client, server], workloads: [client, server],
    services: [{
      key: 'demo/web', name: 'web', namespace: 'demo', vips: ['127.0.0.9'], ports: [{ name: 'http', port: 80, targetPort: backendPort }],
      endpoints: [{ workload: server.uid, address: '127.0.0.1', node: 'node1', nodeAddress: '127.0.0.1', meshed: true, identity: server.identity, targetPorts: { 80: backendPort } }],
    }],
  };
  plane.setSnapshot(snapshot);
  const bound = await plane.start();
  t.teardown(() => plane.destroy());
  const port = bound.outbound[0]?.port as number;

  const sent: Record<string, number> = { '200': 6, '404': 3, '503': 2 };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  t.teardown(() => agent.destroy());
  for (const [code, n] of Object.entries(sent)) {
    for (let i = 0; i < n; i++) {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: `/status/${code}?i=${i}`, headers: { host: 'web.demo' }, agent }, resolve).on('error', reject);
      });
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      await once(res, 'end');
      t.equal(res.statusCode, Number(code), `request ${code} #${i} answered by the workload through the agent`);
      t.equal(body, `body-${code}-${'x'.repeat(2000)}`, 'with its whole body');
    }
  }
  // Not counted below (it is one more 200 on each side): chunked body and trailers end to end.
  const chunked = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/trailers', headers: { host: 'web.demo' }, agent }, resolve).on('error', reject);
  });
  let chunkedBody = '';
  chunked.setEncoding('utf8');
  chunked.on('data', (d: string) => (chunkedBody += d));
  await once(chunked, 'end');
  t.same({ body: chunkedBody, trailers: chunked.trailers }, { body: 'chunk1chunk2', trailers: { 'x-checksum': 'abc' } }, 'chunked body and trailer through both sides');
  sent['200'] = (sent['200'] ?? 0) + 1;
  const want: Record<string, number> = {};
  for (const [code, n] of Object.entries(sent)) for (const r of ['source', 'destination']) want[`${r}/${code}`] = n;
  // Each side reports when its response body closes: wait for every count (a bounded poll, 20 s).
  let got: Record<string, number> = {};
  for (let i = 0; i < 400; i++) {
    got = byReporterAndCode(await registry.metrics());
    if (Object.values(got).reduce((a, b) => a + b, 0) >= 24) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.same(got, want, 'every request counted once per reporter, by response code');
  const text = await registry.metrics();
  t.match(text, /istio_requests_total\{reporter="source",source_workload="client",source_workload_namespace="demo",source_principal="spiffe:\/\/cluster.local\/ns\/demo\/sa\/client",source_app="client",source_version="v1",[^}]*destination_workload="server",[^}]*destination_service="web.demo.svc.cluster.local"/);
  t.notMatch(text, /status\/|i=\d/, 'no path in the metrics');
  t.match(text, /istio_requests_total\{reporter="destination",[^}]*destination_workload="server",[^}]*destination_service="web.demo.svc.cluster.local"/, 'the destination side names the Service it delivered for');
  const requestLines = lines.filter((l) => l['msg'] === 'request completed');
  t.same([...new Set(requestLines.map((l) => l['reporter']))].sort(), ['destination', 'source']);
  t.equal(requestLines.filter((l) => l['reporter'] === 'source').length, 12, 'one access-log line per request on the source side');
  t.equal(requestLines.filter((l) => l['reporter'] === 'destination').length, 12, 'and on the destination side');
  t.match(requestLines.find((l) => l['reporter'] === 'source' && l['status'] === 503), { method: 'GET', authority: 'web.demo', path: '/status/503?i=0', service: 'demo/web', response_flags: '-' });
});
