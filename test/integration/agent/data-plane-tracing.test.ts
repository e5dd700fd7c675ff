/**
 * Tracing wired into a whole data plane on 127.0.0.1 (no root: the original destination is
 * injected): a snapshot with a mesh-wide Telemetry turns it on; a request through the source
 * and destination sides (same node, in-process) reaches an OTLP/HTTP receiver as a CLIENT span
 * and its child SERVER span, each reporter's access-log line names its span, the exported
 * spans are counted in `meshlet_trace_spans_exported_total`, and a snapshot without the
 * Telemetry turns tracing off again (no trace headers written).
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
import { otlpReceiver } from '../../helpers/otlp-receiver.js';
import { waitFor } from '../../helpers/wait-for.js';

const noIdentities: IdentitySource = {
  get: () => undefined,
  ensure: async () => { throw new Error('no tunnel in this test'); },
  getBySni: () => undefined,
} as unknown as IdentitySource;

function workload(name: string, address: string): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node: 'node1',
    nodeAddress: '127.0.0.1', serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`,
    labels: { app: name }, tlsMode: 'STRICT', namedPorts: [],
  };
}

t.test('a data plane with a Telemetry object exports both spans of a request', async (t) => {
  const rx = await otlpReceiver();
  t.teardown(() => rx.close());
  const seen: http.IncomingHttpHeaders[] = [];
  const backend = http.createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    res.end('ok');
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  t.teardown(() => void backend.close());
  const backendPort = (backend.address() as AddressInfo).port;

  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write: (c: Buffer, _e, done) => { lines.push(JSON.parse(c.toString()) as Record<string, unknown>); done(); } });
  const config = loadAgentConfig(
    { node: 'node1', config: '/unused', bind: '127.0.0.1', outboundPort: 0, inboundPort: 0, tunnelPort: 0, readinessPort: 0, adminPort: 0, metricsPort: 0, loopbackWorkloads: true },
    {},
  );
  const registry = new Registry();
  const client = workload('client', '127.0.0.2');
  const server = workload('server', '127.0.0.1');
  const plane = new DataPlane({
    config, logLevels: new LogLevels(pino({ level: 'info' }, sink)), identities: noIdentities, metrics: new DataPathMetrics(registry),
    captured: () => ({ source: '127.0.0.2', destination: { address: '127.0.0.9', port: 80, family: 4 } }),
  });
  const base: NodeSnapshot = {
    version: 'v1', node: 'node1', nodeAddress: '127.0.0.1', trustDomain: 'cluster.local',
    localWorkloads: [client, server], workloads: [client, server],
    services: [{
      key: 'demo/web', name: 'web', namespace: 'demo', vips: ['127.0.0.9'], ports: [{ name: 'http', port: 80, targetPort: backendPort }],
      endpoints: [{ workload: server.uid, address: '127.0.0.1', node: 'node1', nodeAddress: '127.0.0.1', meshed: true, identity: server.identity, targetPorts: { 80: backendPort } }],
    }],
  };
  plane.setSnapshot({ ...base, telemetry: [{ namespace: 'meshlet-system', name: 'mesh', creationTimestamp: 0, tracing: { collector: rx.url, samplingPercentage: 100 } }] });
  const bound = await plane.start();
  t.teardown(() => plane.destroy());
  const port = bound.outbound[0]?.port as number;
  const agent = new http.Agent({ keepAlive: false });
  t.teardown(() => agent.destroy());
  const get = async (): Promise<number> => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/hello', headers: { host: 'web.demo' }, agent }, resolve).on('error', reject);
    });
    res.resume();
    await once(res, 'end');
    return res.statusCode ?? 0;
  };

  t.equal(await get(), 200);
  await Promise.all([waitFor('both access-log lines', () => lines.filter((l) => l['msg'] === 'request completed').length === 2), plane.tracer.flush()]);
  await plane.tracer.flush();
  await rx.waitForSpans(2);
  const client0 = rx.spans.find((s) => s.kind === 3);
  const server0 = rx.spans.find((s) => s.kind === 2);
  t.equal(server0?.parentSpanId, client0?.spanId, 'the server span is the client span\'s child');
  t.equal(server0?.traceId, client0?.traceId);
  t.same({ c: client0?.resource['service.name'], s: server0?.resource['service.name'], node: server0?.resource['k8s.node.name'] }, { c: 'client', s: 'server', node: 'node1' });
  const bySide = new Map(lines.filter((l) => l['msg'] === 'request completed').map((l) => [l['reporter'], l]));
  t.equal(bySide.get('source')?.['span_id'], client0?.spanId, 'the source line names the client span');
  t.equal(bySide.get('destination')?.['span_id'], server0?.spanId, 'the destination line names the server span');
  t.equal(bySide.get('source')?.['trace_id'], client0?.traceId);
  await waitFor('the export counted', async () => /meshlet_trace_spans_exported_total 2\b/.test(await registry.metrics()));
  t.match(await registry.metrics(), /meshlet_trace_spans_dropped_total\{reason="queue_full"\} 0/);

  plane.setSnapshot({ ...base, version: 'v2' });
  t.equal(await get(), 200);
  t.equal(seen.length, 2);
  t.equal(seen[1]?.['traceparent'], undefined, 'without a Telemetry object no trace header is written');
});
