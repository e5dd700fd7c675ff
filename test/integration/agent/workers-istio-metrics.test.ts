/**
 * Istio's names through real worker processes: an agent with two data-path workers on
 * 127.0.0.1 carries tunnel connections landing in both, and the primary's /metrics shows each
 * `istio_tcp_*` and request family once, summed over the workers, with opened counted once per
 * connection (seen live at one scrape, closed before the next).
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent } from '../../../src/agent/agent.js';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { IdentityManager, type CertificateSigner } from '../../../src/agent/identity/manager.js';
import { PrometheusServer } from '../../../src/ops/prometheus-server.js';
import { TunnelPool } from '../../../src/agent/proxy/tunnel/pool.js';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';
import { digestBackend, readAll, status } from './tunnel-streams.js';

const TD = 'cluster.local';
const CLIENT_ID = `spiffe://${TD}/ns/demo/sa/client`;
const SERVER_ID = `spiffe://${TD}/ns/demo/sa/server`;
const logger = pino({ level: 'silent' });
const server: WorkloadInfo = {
  uid: 'Pod/demo/server', kind: 'Pod', name: 'server', namespace: 'demo', addresses: ['127.0.0.1'], node: 'node1',
  nodeAddress: '127.0.0.1', serviceAccount: 'server', identity: SERVER_ID, labels: { app: 'server', version: 'v2' }, tlsMode: 'STRICT', namedPorts: [],
};

function total(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{.*\})? (\S+)$/.exec(line);
    if (m !== null && m[1] === name) sum += Number(m[3]);
  }
  return sum;
}

const typeLines = (text: string, name: string): number => text.split('\n').filter((l) => l.startsWith(`# TYPE ${name} `)).length;

t.test('istio_tcp_* and the request families: once each in the primary, summed over two workers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-istio-workers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger });
  const signer: CertificateSigner = { sign: async (csr, identity) => ({ chainPem: ca.sign(csr, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }) };
  const backend = net.createServer({ allowHalfOpen: true }, digestBackend);
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  t.teardown(() => void backend.close());
  const config = loadAgentConfig(
    { node: 'node1', config: '/unused', bind: '127.0.0.1', outboundPort: 0, inboundPort: 0, tunnelPort: 0, readinessPort: 0, adminPort: 0, metricsPort: 0, workers: 2, loopbackWorkloads: true },
    {},
  );
  const agent = new Agent({ config, logger, signer, capture: null });
  t.teardown(() => agent.destroy());
  const bound = await agent.start();
  const snapshot: NodeSnapshot = { version: 'v1', node: 'node1', nodeAddress: '127.0.0.1', trustDomain: TD, localWorkloads: [server], workloads: [server], services: [] };
  await agent.applySnapshot(snapshot);
  const prom = new PrometheusServer(agent.metrics.registry, logger);
  t.teardown(() => prom.close());
  const url = `http://127.0.0.1:${(await prom.start(0, '127.0.0.1')).port}/metrics`;
  const ids = new IdentityManager({ signer, logger });
  t.teardown(() => ids.close());
  await ids.ensure(CLIENT_ID);
  const port = (backend.address() as AddressInfo).port;

  const COUNT = 24;
  const streams = [];
  for (let i = 0; i < COUNT; i++) {
    // A pool per connection: a TCP connection each, so the kernel spreads them over the workers.
    const pool = new TunnelPool({ identities: ids, logger, tunnelPort: bound.tunnel.port });
    t.teardown(() => pool.destroy());
    const s = await pool.open(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port });
    t.equal(await status(s), 200, `connection ${i} accepted`);
    streams.push(s);
  }
  t.equal(new Set(agent.workers().map((w) => w.pid)).size, 2, 'two workers');
  const live = await (await fetch(url)).text();
  t.equal(total(live, 'istio_tcp_connections_opened_total'), COUNT, 'live connections counted as opened at the scrape');
  t.equal(total(live, 'istio_tcp_connections_closed_total'), 0);

  let sent = 0;
  const answers = streams.map((s, i) => {
    const payload = randomBytes(500 + i * 11);
    sent += payload.length;
    const a = readAll(s);
    s.end(payload);
    return a;
  });
  await Promise.all(answers);
  let text = '';
  for (let i = 0; i < 600 && total(text, 'istio_tcp_connections_closed_total') < COUNT; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 50)); // closes have no event to wait on here; 30 s bound
    text = await (await fetch(url)).text();
  }
  for (const name of ['istio_tcp_connections_opened_total', 'istio_tcp_connections_closed_total', 'istio_tcp_sent_bytes_total', 'istio_tcp_received_bytes_total', 'istio_requests_total', 'istio_request_duration_milliseconds', 'istio_request_bytes', 'istio_response_bytes']) {
    t.equal(typeLines(text, name), 1, `${name}: one family in the merged scrape`);
  }
  t.equal(total(text, 'istio_tcp_connections_closed_total'), COUNT);
  t.equal(total(text, 'istio_tcp_connections_opened_total'), COUNT, 'opened once per connection, not again at close');
  t.equal(total(text, 'istio_tcp_sent_bytes_total'), sent, 'bytes summed over the workers');
  t.equal(total(text, 'istio_tcp_sent_bytes_total'), total(text, 'meshlet_tcp_sent_bytes_total'), 'the same bytes as meshlet\'s own name');
  t.match(text, /istio_tcp_connections_closed_total\{reporter="destination",[^}]*destination_workload="server",[^}]*destination_app="server",destination_version="v2"/);
});
