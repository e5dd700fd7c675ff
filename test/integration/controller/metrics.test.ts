/**
 * The controller's `/metrics` in-process (like wiring/controller.test.ts): a YAML registry, a
 * join token, a real agent client that acks its snapshot, one CSR signed and one refused.
 */
import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { ControllerClient } from '../../../src/agent/control/client.js';
import { createJoinToken } from '../../../src/controller/auth/join-token-edit.js';
import { loadControllerConfig } from '../../../src/controller/config.js';
import { Controller } from '../../../src/controller/controller.js';
import type { NodeSnapshot } from '../../../src/mesh/types.js';
import { createCsr } from '../../../src/mesh/x509.js';

const FIXTURE = fileURLToPath(new URL('../../../../test/fixtures/mesh/two-node/', import.meta.url));
const logger = pino({ level: 'silent' });

async function until(pred: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return pred();
}

// One RSA key for both CSRs: generating keys is the costly part and nothing here needs two.
let key: string | undefined;
function csr(identity: string): string {
  key ??= generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey;
  return createCsr({ identity, privateKeyPem: key });
}

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

t.test('/metrics shows agents, pushes, snapshot bytes and CSRs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-ctl-metrics-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const registry = join(dir, 'registry');
  cpSync(FIXTURE, registry, { recursive: true });
  const tokens = join(dir, 'join-tokens.yaml');
  const a = await createJoinToken(tokens, { node: 'node-a' });
  const config = loadControllerConfig({ registry, joinTokens: tokens, listen: '127.0.0.1:0', metricsPort: '0', debugPort: '0', stateDir: join(dir, 'state'), debounceMs: '20' }, {});
  const controller = new Controller(config, logger);
  const bound = await controller.start();
  t.teardown(() => controller.close());
  const metricsPort = controller.metricsBound?.port;
  t.type(metricsPort, 'number', 'metrics bound');
  t.ok((metricsPort ?? 0) > 0, `metrics bound to a free port (${metricsPort})`);
  const url = `http://127.0.0.1:${metricsPort}`;
  const scrape = async (): Promise<string> => (await fetch(`${url}/metrics`)).text();

  const snapshots: NodeSnapshot[] = [];
  const client = new ControllerClient({
    address: `127.0.0.1:${bound.port}`,
    caPem: readFileSync(join(dir, 'state', 'ca', 'ca.crt'), 'utf8'),
    node: 'node-a',
    credentials: async () => a.token,
    trustDomain: 'cluster.local',
    logger,
    onSnapshot: async (s) => void snapshots.push(s),
  });
  client.start();
  t.teardown(() => client.close());
  t.ok(await until(() => snapshots.length > 0), 'first snapshot arrived');
  t.ok(await until(async () => (sample(await scrape(), 'meshlet_controller_push_latency_seconds_count') ?? 0) >= 1), 'the ACK was observed');

  const own = (snapshots[0] as NodeSnapshot).localWorkloads[0]?.identity as string;
  await client.sign(csr(own), own);
  const foreign = 'spiffe://cluster.local/ns/demo/sa/not-here';
  await t.rejects(client.sign(csr(foreign), foreign), /PERMISSION_DENIED|not have a certificate/);

  const res = await fetch(`${url}/metrics`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /text\/plain/);
  const text = await res.text();
  t.equal(sample(text, 'meshlet_controller_agents_connected'), 1);
  t.equal(sample(text, 'meshlet_controller_pushes_total{outcome="ack"}'), 1);
  t.equal(sample(text, 'meshlet_controller_pushes_total{outcome="nack"}'), 0);
  t.equal(sample(text, 'meshlet_controller_csrs_total{result="signed"}'), 1);
  t.equal(sample(text, 'meshlet_controller_csrs_total{result="refused"}'), 1);
  t.equal(sample(text, 'meshlet_controller_csrs_total{result="invalid"}'), 0);
  t.ok((sample(text, 'meshlet_controller_snapshot_bytes') ?? 0) > 0, 'snapshot bytes > 0');
  t.ok((sample(text, 'meshlet_controller_state_versions_total') ?? 0) >= 1, 'a version was published');
  t.equal(sample(text, 'meshlet_controller_state_rejections_total'), 0);
  t.equal(sample(text, `meshlet_controller_config_info{version="${(snapshots[0] as NodeSnapshot).version}"}`), 1);
  t.match(text, /^process_resident_memory_bytes \d/m, 'process metrics');

  t.equal((await fetch(`${url}/elsewhere`)).status, 404);
  const post = await fetch(`${url}/metrics`, { method: 'POST' });
  t.equal(post.status, 405);
  t.equal(post.headers.get('allow'), 'GET');

  client.close();
  t.ok(await until(async () => sample(await scrape(), 'meshlet_controller_agents_connected') === 0), 'agents_connected drops when the agent leaves');
});
