/**
 * The Agent object in-process on 127.0.0.1 (no capture rules, port 0): readiness, snapshot
 * application when the signer or the capture rules fail, retries, drain and destroy.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { waitFor } from '../../helpers/wait-for.js';
import { Agent, type CaptureRules } from '../../../src/agent/agent.js';
import { loadAgentConfig } from '../../../src/agent/config.js';
import type { CertificateSigner } from '../../../src/agent/identity/manager.js';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';

const logger = pino({ level: 'silent' });
const config = loadAgentConfig(
  { node: 'node1', config: '/unused', bind: '127.0.0.1', outboundPort: 0, inboundPort: 0, tunnelPort: 0, readinessPort: 0 },
  {},
);

function workload(name: string, address: string): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node: 'node1', nodeAddress: '127.0.0.1',
    serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: {}, tlsMode: 'PERMISSIVE', namedPorts: [],
  };
}

function snapshot(version: string, ...workloads: WorkloadInfo[]): NodeSnapshot {
  return { version, node: 'node1', nodeAddress: '127.0.0.1', trustDomain: 'cluster.local', localWorkloads: workloads, workloads, services: [] };
}

async function caSigner(t: { teardown(fn: () => void): void }): Promise<CertificateSigner> {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-agent-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: 'cluster.local', logger });
  return { sign: async (csr, identity) => ({ chainPem: ca.sign(csr, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }) };
}

class RecordingCapture implements CaptureRules {
  applied: string[][] = [];
  cleaned = 0;
  failNext = 0;
  async clean(): Promise<void> {
    this.cleaned += 1;
  }
  async apply(addresses: readonly string[]): Promise<void> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('iptables-restore: exit 1');
    }
    this.applied.push([...addresses]);
  }
}

async function ready(port: number): Promise<{ status: number; body: { pending: string[] } }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz/ready`);
  return { status: res.status, body: (await res.json()) as { pending: string[] } };
}

t.test('ready only once listeners, snapshot, certificates and capture rules are in', async (t) => {
  const capture = new RecordingCapture();
  const agent = new Agent({ config, logger, signer: await caSigner(t), capture });
  t.teardown(() => agent.destroy());
  const bound = await agent.start();
  const before = await ready(bound.readiness.port);
  t.equal(before.status, 503);
  t.same(before.body.pending, ['capture-rules', 'certificates', 'snapshot']);
  await agent.applySnapshot(snapshot('v1', workload('a', '198.18.1.10')));
  t.equal((await ready(bound.readiness.port)).status, 200);
  t.same(capture.applied, [['198.18.1.10']]);
  t.ok(agent.identities.get('spiffe://cluster.local/ns/demo/sa/a'), 'certificate issued');
});

t.test('a failing signer holds back neither the capture rules nor later snapshots, and is retried', async (t) => {
  const real = await caSigner(t);
  let failures = 1;
  const signer: CertificateSigner = {
    sign: async (csr, id) => {
      if (failures > 0) {
        failures -= 1;
        throw new Error('controller unreachable');
      }
      return real.sign(csr, id);
    },
  };
  const capture = new RecordingCapture();
  const agent = new Agent({ config, logger, signer, capture, retryMs: 100 });
  t.teardown(() => agent.destroy());
  const bound = await agent.start();
  await t.rejects(agent.applySnapshot(snapshot('v1', workload('a', '198.18.1.10'))), /controller unreachable/);
  t.same(capture.applied, [['198.18.1.10']], 'rules applied although the signer failed');
  t.same((await ready(bound.readiness.port)).body.pending, ['certificates'], 'only certificates block readiness');
  await waitFor('the retry to issue the certificate', () => agent.readiness.ready);
  t.equal(agent.readiness.ready, true, 'the retry issued the certificate');
});

t.test('retryNow() (the controller is back) runs a pending retry at once, and nothing when none is pending', async (t) => {
  const real = await caSigner(t);
  let failures = 1;
  let calls = 0;
  const signer: CertificateSigner = {
    sign: async (csr, id) => {
      calls += 1;
      if (failures > 0) {
        failures -= 1;
        throw new Error('controller unreachable');
      }
      return real.sign(csr, id);
    },
  };
  // Retry delays the test would time out on: only retryNow() can issue the certificate.
  const agent = new Agent({ config, logger, signer, capture: new RecordingCapture(), retryMs: 600_000, issueRetryBackoff: { initialMs: 600_000, maxMs: 600_000 } });
  t.teardown(() => agent.destroy());
  await agent.start();
  await t.rejects(agent.applySnapshot(snapshot('v1', workload('a', '198.18.1.10'))), /controller unreachable/);
  t.equal(agent.readiness.ready, false, 'certificates still missing');
  agent.retryNow();
  await waitFor('the certificate after retryNow()', () => agent.readiness.ready);
  t.ok(agent.identities.get('spiffe://cluster.local/ns/demo/sa/a'), 'certificate issued');
  t.equal(calls, 2, 'one failed request, one retried');
  agent.retryNow();
  await new Promise((r) => setImmediate(r));
  t.equal(calls, 2, 'no retry pending: retryNow() asks for nothing');
});

t.test('failed capture rules are retried; a newer snapshot wins', async (t) => {
  const capture = new RecordingCapture();
  capture.failNext = 1;
  const agent = new Agent({ config, logger, signer: await caSigner(t), capture, retryMs: 100 });
  t.teardown(() => agent.destroy());
  await agent.start();
  await t.rejects(agent.applySnapshot(snapshot('v1', workload('a', '198.18.1.10'))), /iptables-restore/);
  await waitFor('the retried rules', () => capture.applied.length > 0);
  t.same(capture.applied, [['198.18.1.10']], 'retried until applied');
  await agent.applySnapshot(snapshot('v2', workload('b', '198.18.1.11')));
  t.same(capture.applied.at(-1), ['198.18.1.11'], 'the newest snapshot is in force');
  t.equal(agent.identities.get('spiffe://cluster.local/ns/demo/sa/a'), undefined, 'the departed identity is forgotten');
});

t.test('destroy() during a drain closes at once', async (t) => {
  const agent = new Agent({ config, logger, signer: await caSigner(t), capture: null });
  const bound = await agent.start();
  const sock = net.connect({ host: '127.0.0.1', port: bound.readiness.port });
  await new Promise((r) => sock.once('connect', r));
  const table = agent.connections;
  if (table === undefined) throw new Error('workers: 1 runs the data path in this process');
  table.open('inbound', 'test', 'test', sock);
  const started = performance.now();
  const drained = agent.drain(30_000);
  // A negative check: no event marks "the drain did not close it", so give it a moment.
  await new Promise((r) => setTimeout(r, 50));
  t.equal(table.size, 1, 'the drain waits for the live connection');
  await agent.destroy();
  await drained;
  const tookMs = Math.round(performance.now() - started);
  t.ok(tookMs < 5_000, `destroy did not wait for the 30 s deadline (took ${tookMs} ms)`);
  t.equal(table.size, 0);
  // The table holds this very socket, and destroy() destroys what the table holds.
  t.equal(sock.destroyed, true, 'the connection was closed');
});

t.test('a failed start leaves nothing bound', async (t) => {
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const cfg = loadAgentConfig({ node: 'node1', config: '/unused', bind: '127.0.0.1', outboundPort: 0, inboundPort: 0, tunnelPort: port, readinessPort: 0 }, {});
  const agent = new Agent({ config: cfg, logger, signer: await caSigner(t), capture: null });
  // The agent opens its sockets itself (SO_REUSEPORT, handover/listener-sockets.ts): the libc error names the errno.
  await t.rejects(agent.start(), { code: 'MESHLET_ERR_LISTEN', message: /EADDRINUSE/ });
  await agent.destroy();
});

t.test('failure mode: closed keeps the rules at shutdown, open lifts them', async (t) => {
  for (const mode of ['closed', 'open'] as const) {
    const cfg = loadAgentConfig(
      { node: 'node1', config: '/unused', bind: '127.0.0.1', outboundPort: 0, inboundPort: 0, tunnelPort: 0, readinessPort: 0, failureMode: mode },
      {},
    );
    const capture = new RecordingCapture();
    const agent = new Agent({ config: cfg, logger, signer: await caSigner(t), capture });
    await agent.start();
    await agent.applySnapshot(snapshot('v1', workload('a', '198.18.1.10')));
    await agent.drain(100);
    t.equal(capture.cleaned, mode === 'open' ? 1 : 0, `${mode}: rules ${mode === 'open' ? 'lifted' : 'kept'}`);
  }
  t.throws(() => loadAgentConfig({ node: 'n', config: '/d', failureMode: 'sideways' }, {}), /--failure-mode="sideways": must be closed or open/);
});
