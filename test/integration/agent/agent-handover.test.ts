/**
 * The upgrade handover between two agents in one process (the in-process data path, on
 * loopback): the new agent takes the old one's sockets over and serves them once ready; the old
 * one, told before the new one reports ready, drains and keeps the capture rules (fail-open too);
 * bad input on the handover socket leaves the old agent serving.
 */
import t from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { waitFor } from '../../helpers/wait-for.js';
import { Agent, type CaptureRules } from '../../../src/agent/agent.js';
import { loadAgentConfig, type AgentConfig } from '../../../src/agent/config.js';
import type { CertificateSigner } from '../../../src/agent/identity/manager.js';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';

const logger = pino({ level: 'silent' });

function configIn(dir: string, failureMode: 'open' | 'closed'): AgentConfig {
  return loadAgentConfig(
    { node: 'node1', config: '/unused', bind: '127.0.0.1', outboundPort: 0, inboundPort: 0, tunnelPort: 0, readinessPort: 0, adminPort: 0, metricsPort: 0, failureMode, handoverSocket: join(dir, 'h.sock') },
    {},
  );
}

const workload: WorkloadInfo = {
  uid: 'Pod/demo/a', kind: 'Pod', name: 'a', namespace: 'demo', addresses: ['198.18.1.10'], node: 'node1', nodeAddress: '127.0.0.1',
  serviceAccount: 'a', identity: 'spiffe://cluster.local/ns/demo/sa/a', labels: {}, tlsMode: 'PERMISSIVE', namedPorts: [],
};
const snapshot: NodeSnapshot = { version: 'v1', node: 'node1', nodeAddress: '127.0.0.1', trustDomain: 'cluster.local', localWorkloads: [workload], workloads: [workload], services: [] };

async function caSigner(dir: string): Promise<CertificateSigner> {
  const ca = await CertificateAuthority.loadOrCreate({ dir: join(dir, 'ca'), trustDomain: 'cluster.local', logger });
  return { sign: async (csr, identity) => ({ chainPem: ca.sign(csr, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }) };
}

class RecordingCapture implements CaptureRules {
  cleaned = 0;
  applied = 0;
  async clean(): Promise<void> {
    this.cleaned += 1;
  }
  async apply(): Promise<void> {
    this.applied += 1;
  }
}

async function readiness(port: number): Promise<{ status: number; body: { handover: string } }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz/ready`, { headers: { connection: 'close' } });
  return { status: res.status, body: (await res.json()) as { handover: string } };
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function send(path: string, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const s = net.connect(path, () => s.write(bytes));
    s.on('data', (c: Buffer) => (got += c.toString()));
    s.on('close', () => resolve(got));
    s.on('error', () => undefined);
  });
}

t.test('a new agent takes the listeners over; the old one drains, keeps the rules and serves on after bad peer input', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-handover-agent-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = configIn(dir, 'open');
  const signer = await caSigner(dir);
  const oldCapture = new RecordingCapture();
  let handedOver = 0;
  const old = new Agent({ config, logger, signer, capture: oldCapture, handover: true, onHandedOver: () => (handedOver += 1) });
  t.teardown(() => old.destroy());
  const bound = await old.start();
  await old.applySnapshot(snapshot);
  t.equal((await readiness(bound.readiness.port)).status, 200, 'the old agent is ready');

  t.match(await send(config.handoverSocket, 'not a takeover\n'), /"type":"refused"/, 'garbage is refused');
  t.match(await send(config.handoverSocket, '{"type":"takeover","version":1,"node":"node9","pid":1}\n'), /this agent serves \\"node1\\"/, 'another node is refused');
  t.equal((await readiness(bound.readiness.port)).status, 200, 'the old agent is still ready');
  t.equal(handedOver, 0, 'nothing handed over');
  t.equal(await connects(bound.tunnel.port), true, 'the old agent still accepts');

  const newCapture = new RecordingCapture();
  const next = new Agent({ config, logger, signer, capture: newCapture, handover: true });
  t.teardown(() => next.destroy());
  const nextBound = await next.start();
  t.equal(nextBound.tunnel.port, bound.tunnel.port, 'the same tunnel port');
  t.same(nextBound.outbound.map((a) => a.port), bound.outbound.map((a) => a.port), 'the same outbound port');
  t.equal(nextBound.readiness.port, bound.readiness.port, 'the same readiness port');
  const during = await readiness(bound.readiness.port);
  t.equal(during.status, 503, 'while the new agent starts, neither answers ready');
  t.equal(handedOver, 0, 'the old agent is not told before the new one serves');

  await next.applySnapshot(snapshot);
  await next.serving;
  await waitFor('the old agent told', () => (handedOver === 1 ? true : undefined));
  t.equal(old.handedOff, true, 'the old agent handed over');
  await old.drain();
  t.equal(oldCapture.cleaned, 0, 'fail-open, but handed over: the old agent leaves the rules to the new one');
  t.ok(newCapture.applied >= 1, 'the new agent applied its rules');
  const after = await readiness(bound.readiness.port);
  t.equal(after.status, 200, 'the readiness port, served by the new agent, says ready');
  t.equal(after.body.handover, 'none');
  t.equal(await connects(bound.tunnel.port), true, 'the tunnel port still accepts after the old agent drained');

  // The next upgrade finds the new agent on the same socket path (the old one's close must not
  // have removed the new one's socket file).
  await waitFor('the new agent listening on the handover socket', () => (existsSync(config.handoverSocket) ? true : undefined));
  const third = new Agent({ config, logger, signer, capture: new RecordingCapture(), handover: true });
  t.teardown(() => third.destroy());
  const thirdBound = await third.start();
  t.equal(thirdBound.tunnel.port, bound.tunnel.port, 'a second upgrade takes the same sockets over again');
  await third.applySnapshot(snapshot);
  await third.serving;
  await waitFor('the second agent handed over', () => (next.handedOff ? true : undefined));
  t.equal(next.handedOff, true);
});

t.test('the old agent stopped during a takeover: the new one still serves the sockets and gets ready', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-handover-agent-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = configIn(dir, 'closed');
  const signer = await caSigner(dir);
  const old = new Agent({ config, logger, signer, capture: new RecordingCapture(), handover: true });
  t.teardown(() => old.destroy());
  const bound = await old.start();
  await old.applySnapshot(snapshot);
  const next = new Agent({ config, logger, signer, capture: new RecordingCapture(), handover: true });
  t.teardown(() => next.destroy());
  await next.start();
  // A SIGTERM reaches the old agent before the new one serves (a pod deleted early).
  await old.drain(0);
  t.equal(old.handedOff, false, 'the old agent was never told');
  t.equal(await connects(bound.tunnel.port), true, 'the sockets live on in the new agent: a connection waits in the queue');
  await next.applySnapshot(snapshot);
  await next.serving;
  await waitFor('the new agent ready', async () => ((await readiness(bound.readiness.port)).status === 200 ? true : undefined));
  t.equal((await readiness(bound.readiness.port)).status, 200, 'the new agent is ready');
});

t.test('an agent stopped as soon as it serves after a takeover leaves no handover socket open', async (t) => {
  // The new agent binds its own handover socket right after it starts serving; a drain that
  // comes first must still close it (else it holds the process open: found under stress-ng).
  const pipes = (): number => process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap').length;
  const before = pipes();
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-handover-agent-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = configIn(dir, 'closed');
  const signer = await caSigner(dir);
  const old = new Agent({ config, logger, signer, capture: new RecordingCapture(), handover: true });
  t.teardown(() => old.destroy());
  await old.start();
  await old.applySnapshot(snapshot);
  const next = new Agent({ config, logger, signer, capture: new RecordingCapture(), handover: true });
  await next.start();
  await next.applySnapshot(snapshot);
  await next.serving;
  await next.destroy();
  await old.destroy();
  await waitFor('every handover socket closed', () => (pipes() === before ? true : undefined));
  t.equal(pipes(), before, 'no unix socket server left open');
});
