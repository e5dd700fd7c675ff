/**
 * The whole controller in-process on 127.0.0.1:0: a YAML registry in a temp directory, join
 * tokens, the generated CA, and real agent clients.
 */
import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { ControllerClient } from '../../../../src/agent/control/client.js';
import { loadControllerConfig } from '../../../../src/controller/config.js';
import { Controller } from '../../../../src/controller/controller.js';
import { createJoinToken } from '../../../../src/controller/auth/join-token-edit.js';
import { createCsr } from '../../../../src/mesh/x509.js';
import type { NodeSnapshot } from '../../../../src/mesh/types.js';

const FIXTURE = fileURLToPath(new URL('../../../../../test/fixtures/mesh/two-node/', import.meta.url));
const logger = pino({ level: 'silent' });

async function rig(t: { teardown(fn: () => void | Promise<void>): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-ctl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const registry = join(dir, 'registry');
  cpSync(FIXTURE, registry, { recursive: true });
  const tokens = join(dir, 'join-tokens.yaml');
  const a = await createJoinToken(tokens, { node: 'node-a' });
  const config = loadControllerConfig({ registry, joinTokens: tokens, listen: '127.0.0.1:0', metricsPort: '0', debugPort: '0', stateDir: join(dir, 'state'), debounceMs: '20' }, {});
  const controller = new Controller(config, logger);
  const bound = await controller.start();
  t.teardown(() => controller.close());
  const caPem = readFileSync(join(dir, 'state', 'ca', 'ca.crt'), 'utf8');
  const snapshots: NodeSnapshot[] = [];
  const client = new ControllerClient({
    address: `127.0.0.1:${bound.port}`,
    caPem,
    node: 'node-a',
    credentials: async () => a.token,
    trustDomain: 'cluster.local',
    logger,
    onSnapshot: async (s) => void snapshots.push(s),
  });
  client.start();
  t.teardown(() => client.close());
  return { controller, client, snapshots, registry };
}

async function until(pred: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return pred();
}

function csr(identity: string): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  return createCsr({ identity, privateKeyPem: privateKey });
}

t.test('an agent gets its node snapshot and certificates for its own workloads only', async (t) => {
  const r = await rig(t);
  t.ok(await until(() => r.snapshots.length > 0), 'first snapshot arrived');
  const s = r.snapshots[0] as NodeSnapshot;
  t.equal(s.node, 'node-a');
  t.ok(s.localWorkloads.length > 0, 'node-a has local workloads');
  t.same([...new Set(s.localWorkloads.map((w) => w.node))], ['node-a'], 'only node-a workloads are local');
  const own = s.localWorkloads[0]?.identity as string;
  const signed = await r.client.sign(csr(own), own);
  t.match(signed.chainPem, /BEGIN CERTIFICATE/, 'own workload signed');
  const foreign = 'spiffe://cluster.local/ns/demo/sa/not-here';
  await t.rejects(r.client.sign(csr(foreign), foreign), /PERMISSION_DENIED|not have a certificate/, 'another identity refused');
});

t.test('a registry edit reaches the agent as a new version within a second', async (t) => {
  const r = await rig(t);
  t.ok(await until(() => r.snapshots.length > 0));
  const before = r.snapshots.length;
  const first = (r.snapshots[0] as NodeSnapshot).version;
  cpSync(join(FIXTURE, 'meshtls.yaml'), join(r.registry, 'copy-meshtls.yaml'));
  rmSync(join(r.registry, 'meshtls.yaml'));
  rmSync(join(r.registry, 'copy-meshtls.yaml'));
  t.ok(await until(() => r.snapshots.length > before, 3000), 'a new snapshot was pushed');
  t.not((r.snapshots.at(-1) as NodeSnapshot).version, first, 'with a new version');
});
