/**
 * An agent restarted while its controller is down (issue 9, finding 8), in-process on
 * 127.0.0.1: it serves with the snapshot it persisted, refuses a meshed source's traffic it
 * cannot tunnel rather than passing it in plaintext, refuses everything before it has any
 * snapshot, and shrugs off a corrupt state file. Loopback has no REDIRECT, so the captured
 * connections' source and original destination are injected (`captured`).
 */
import t from 'tap';
import { once, EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { Agent, type CaptureRules } from '../../../src/agent/agent.js';
import { loadAgentConfig, type AgentConfig } from '../../../src/agent/config.js';
import type { CertificateSigner } from '../../../src/agent/identity/manager.js';
import type { CapturedAddresses } from '../../../src/agent/proxy/outbound.js';
import { planOutbound } from '../../../src/agent/policy/outbound-plan.js';
import { SnapshotStore } from '../../../src/agent/control/snapshot-store.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { MeshletError } from '../../../src/mesh/errors.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';

const TD = 'cluster.local';

function workload(name: string, address: string, node: string): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node,
    nodeAddress: node === 'node1' ? '198.18.0.11' : '198.18.0.12', serviceAccount: name,
    identity: `spiffe://${TD}/ns/demo/sa/${name}`, labels: {}, tlsMode: 'STRICT', namedPorts: [],
  };
}

const client = workload('client', '198.18.1.10', 'node1');
const server = workload('server', '198.18.2.10', 'node2');

function snapshot(version: string): NodeSnapshot {
  return { version, node: 'node1', nodeAddress: '198.18.0.11', trustDomain: TD, localWorkloads: [client], workloads: [client, server], services: [] };
}

function agentConfig(stateDir: string): AgentConfig {
  return loadAgentConfig(
    { node: 'node1', config: '/unused', stateDir, bind: '127.0.0.1', outboundPort: 0, inboundPort: 0, tunnelPort: 0, readinessPort: 0 },
    {},
  );
}

/** A logger that keeps its JSON lines. */
function recordingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, logger: pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }) };
}

class RecordingCapture extends EventEmitter implements CaptureRules {
  applied: string[][] = [];
  async clean(): Promise<void> {}
  async apply(addresses: readonly string[]): Promise<void> {
    this.applied.push([...addresses]);
    this.emit('applied');
  }
}

/** The controller is down: every signing call fails at once, as a refused connection does. */
const controllerDown: CertificateSigner = {
  sign: async () => {
    throw new MeshletError('MESHLET_ERR_CONTROLLER', 'controller unreachable: connect ECONNREFUSED');
  },
};

async function caSigner(dir: string, logger: Logger): Promise<CertificateSigner> {
  const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger });
  return { sign: async (csr, identity) => ({ chainPem: ca.sign(csr, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }) };
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens a connection to the outbound capture port, sends a request, and reports how it ended. */
async function capturedConnection(port: number): Promise<{ received: number; error: string | undefined }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  let received = 0;
  let error: string | undefined;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
  socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nhost: server\r\n\r\n'));
  // Not events.once: it rejects on the 'error' that a reset is.
  await new Promise((resolve) => socket.once('close', resolve));
  return { received, error };
}

function accessLines(lines: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return lines.filter((l) => l['msg'] === 'connection closed' && l['component'] === 'access');
}

t.test('restarted with the controller down: the persisted snapshot is in force, and a meshed source is refused, not sent in plaintext', async (t) => {
  const dir = tempDir(t);
  const stateDir = join(dir, 'state');
  const config = agentConfig(stateDir);
  const quiet = pino({ level: 'silent' });

  // First life: the controller is up, sends v7, the agent ACKs it (applies it) and persists it.
  const firstStore = new SnapshotStore({ dir: stateDir, logger: quiet });
  const first = new Agent({ config, logger: quiet, signer: await caSigner(join(dir, 'ca'), quiet), capture: new RecordingCapture(), snapshotStore: firstStore });
  await first.start();
  await first.applySnapshot(snapshot('v7'));
  await firstStore.flush();
  await first.destroy();
  const store = new SnapshotStore({ dir: stateDir, logger: quiet });
  t.equal(statSync(store.path).mode & 0o777, 0o600, 'the persisted snapshot is 0600');

  // Second life: the controller is down.
  const { logger, lines } = recordingLogger();
  const capture = new RecordingCapture();
  const rulesApplied = once(capture, 'applied');
  const captured = (): CapturedAddresses => ({ source: '198.18.1.10', destination: { address: '198.18.2.10', port: 8080, family: 4 } });
  const agent = new Agent({ config, logger, signer: controllerDown, capture, retryMs: 60_000, snapshotStore: store, captured });
  t.teardown(() => agent.destroy());
  const bound = await agent.start();
  t.equal(agent.snapshot.version, 'v7', 'the persisted snapshot is in force before the controller answers');
  t.equal(agent.snapshotSource, 'persisted');
  if (agent.snapshotSource !== 'persisted') return; // nothing to reapply the rules from
  await rulesApplied;
  t.same(capture.applied, [['198.18.1.10']], 'capture rules reconciled from the persisted snapshot');
  t.same(agent.readiness.pending(), ['certificates', 'snapshot'], 'not ready: no live snapshot, no certificate');
  t.equal(agent.identities.get(client.identity), undefined, 'no certificate: keys were not persisted and the controller is down');

  // Guard: the plan must not be a plaintext dial, so a regression never sends a packet off loopback.
  const plan = planOutbound(new WorkloadIndex(agent.snapshot), '198.18.1.10', { address: '198.18.2.10', port: 8080, family: 4 }, () => undefined);
  t.equal(plan.kind, 'tunnel', 'a meshed source to a meshed workload on another node is for a tunnel');
  if (plan.kind !== 'tunnel') return;

  const outcome = await capturedConnection((bound.outbound[0] as AddressInfo).port);
  t.equal(outcome.received, 0, 'nothing came back');
  t.equal(outcome.error, 'ECONNRESET', 'the application saw a reset');
  const access = accessLines(lines);
  t.equal(access.length, 1);
  t.match(access[0], { mode: 'tunnel', outcome: 'tunnel_failed', src_workload: client.uid, dst_workload: server.uid, security_policy: 'mutual_tls', bytes_sent: 0 });

  // The controller comes back with v8: now live, persisted, and the snapshot blocker is gone.
  await agent.applySnapshot(snapshot('v8')).catch(() => undefined);
  await store.flush();
  t.equal(agent.snapshotSource, 'live');
  t.same(agent.readiness.pending(), ['certificates'], 'only the certificates (controller signer still down) block');
  t.equal((await new SnapshotStore({ dir: stateDir, logger: quiet }).load({ node: 'node1', trustDomain: TD }))?.version, 'v8', 'v8 persisted');
});

t.test('with no snapshot at all, a captured connection is refused, never passed through in plaintext', async (t) => {
  const dir = tempDir(t);
  let backendConnections = 0;
  const backend = net.createServer((s) => {
    backendConnections += 1;
    s.destroy();
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  t.teardown(() => backend.close());
  const backendPort = (backend.address() as AddressInfo).port;

  const { logger, lines } = recordingLogger();
  const captured = (): CapturedAddresses => ({ source: '198.18.1.10', destination: { address: '127.0.0.1', port: backendPort, family: 4 } });
  const agent = new Agent({ config: agentConfig(join(dir, 'state')), logger, signer: controllerDown, capture: null, snapshotStore: new SnapshotStore({ dir: join(dir, 'state'), logger }), captured });
  t.teardown(() => agent.destroy());
  const bound = await agent.start();
  t.equal(agent.snapshotSource, 'none');

  const outcome = await capturedConnection((bound.outbound[0] as AddressInfo).port);
  t.equal(outcome.error, 'ECONNRESET', 'refused with a reset');
  t.equal(backendConnections, 0, 'the destination was never dialled');
  t.match(accessLines(lines), [{ outcome: 'no_route', reason: /no snapshot yet/ }]);
  t.equal(lines.filter((l) => l['msg'] === 'outbound: captured connection refused rather than sent in plaintext').length, 1, 'warned once');
  await capturedConnection((bound.outbound[0] as AddressInfo).port);
  t.equal(lines.filter((l) => l['msg'] === 'outbound: captured connection refused rather than sent in plaintext').length, 1, 'the second refusal is not a second warning');
  t.equal(accessLines(lines).length, 2, 'each refusal has its access-log line');
  t.equal(backendConnections, 0);
});

t.test('a corrupt state file is logged and ignored: the agent starts, refuses captured traffic, and takes the next live snapshot', async (t) => {
  const dir = tempDir(t);
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, { recursive: true });
  const { logger, lines } = recordingLogger();
  const failures: string[] = [];
  const store = new SnapshotStore({ dir: stateDir, logger, onFailure: (op) => void failures.push(op) });
  writeFileSync(store.path, '{"format":"meshlet.agent-snapshot.v1","wire":');
  // Port 9 on loopback: nothing listens, and a regression that dials it stays on this host.
  const captured = (): CapturedAddresses => ({ source: '198.18.1.10', destination: { address: '127.0.0.1', port: 9, family: 4 } });
  const agent = new Agent({ config: agentConfig(stateDir), logger, signer: controllerDown, capture: null, retryMs: 60_000, snapshotStore: store, captured });
  t.teardown(() => agent.destroy());
  const bound = await agent.start();
  t.equal(agent.snapshotSource, 'none');
  t.equal(agent.snapshot.version, '');
  t.same(failures, ['load']);
  t.match(lines.find((l) => l['level'] === 50), { code: 'MESHLET_ERR_STATE_FILE', path: store.path, msg: /persisted snapshot ignored/ });
  t.same(agent.readiness.pending(), ['certificates', 'snapshot']);
  const outcome = await capturedConnection((bound.outbound[0] as AddressInfo).port);
  t.equal(outcome.error, 'ECONNRESET');
  t.match(accessLines(lines), [{ outcome: 'no_route' }]);
  await agent.applySnapshot(snapshot('v9')).catch(() => undefined);
  await store.flush();
  t.equal((await store.load({ node: 'node1', trustDomain: TD }))?.version, 'v9', 'the corrupt file is replaced by the next live snapshot');
});
