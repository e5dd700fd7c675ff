/**
 * An agent with two data-path worker processes on 127.0.0.1 (port 0 everywhere): tunnel
 * connections spread over both workers (each on its own SO_REUSEPORT socket), /connections
 * and /metrics merge them, a SIGKILLed worker is restarted with the snapshot and credentials
 * and serves again, and drain and destroy leave no child process behind.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { ClientHttp2Stream } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { AdminServer } from '../../../src/agent/admin/server.js';
import { newAdminToken } from '../../../src/agent/admin/token.js';
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

const serverWorkload: WorkloadInfo = {
  uid: 'Pod/demo/server', kind: 'Pod', name: 'server', namespace: 'demo', addresses: ['127.0.0.1'], node: 'node1',
  nodeAddress: '127.0.0.1', serviceAccount: 'server', identity: SERVER_ID, labels: {}, tlsMode: 'STRICT', namedPorts: [],
};

type Teardown = { teardown(fn: () => void | Promise<void>): void };

interface Rig {
  agent: Agent;
  admin: string;
  metrics: string;
  readiness: string;
  tunnelPort: number;
  backendPort: number;
  signer: CertificateSigner;
  /** The client side's credentials (CLIENT_ID), for pools of a test's own. */
  peerIds: IdentityManager;
  /** A CONNECT stream on a TCP connection of its own (a fresh tunnel pool), as CLIENT_ID. */
  connect(t: Teardown): Promise<ClientHttp2Stream>;
}

async function workersRig(t: Teardown): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-workers-'));
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
  const snapshot: NodeSnapshot = { version: 'v1', node: 'node1', nodeAddress: '127.0.0.1', trustDomain: TD, localWorkloads: [serverWorkload], workloads: [serverWorkload], services: [] };
  await agent.applySnapshot(snapshot);
  const admin = new AdminServer({ agent, logger, quit: () => undefined, token: ADMIN_TOKEN });
  const metrics = new PrometheusServer(agent.metrics.registry, logger);
  t.teardown(() => admin.close());
  t.teardown(() => metrics.close());
  const adminAddr = await admin.start(0, '127.0.0.1');
  const metricsAddr = await metrics.start(0, '127.0.0.1');
  const peerIds = new IdentityManager({ signer, logger });
  t.teardown(() => peerIds.close());
  await peerIds.ensure(CLIENT_ID);
  return {
    agent,
    admin: `http://127.0.0.1:${adminAddr.port}`,
    metrics: `http://127.0.0.1:${metricsAddr.port}/metrics`,
    readiness: `http://127.0.0.1:${bound.readiness.port}/healthz/ready`,
    tunnelPort: bound.tunnel.port,
    backendPort: (backend.address() as AddressInfo).port,
    signer,
    peerIds,
    connect: async (tt) => {
      const pool = new TunnelPool({ identities: peerIds, logger, tunnelPort: bound.tunnel.port });
      tt.teardown(() => pool.destroy());
      return pool.open(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: (backend.address() as AddressInfo).port });
    },
  };
}

/** Sum of every series of one metric in an exposition. */
function total(text: string, name: string, labels?: RegExp): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{.*\})? (\S+)$/.exec(line);
    if (m !== null && m[1] === name && (labels === undefined || labels.test(m[2] ?? ''))) sum += Number(m[3]);
  }
  return sum;
}

/** The admin token of the rig's admin server (sent on every getJson; other ports ignore it). */
const ADMIN_TOKEN = newAdminToken();

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: res.status, body: await res.json() };
}

type Row = { worker: number; bytesSent: number };

/**
 * Waits until `check` holds, polling (for what has no event: connections closing). The bound
 * is generous (30 s) so that a loaded machine does not fail a test whose agent is fine.
 */
async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('connections spread over both workers; /connections and /metrics merge them', async (t) => {
  const rig = await workersRig(t);
  const pids = rig.agent.workers().map((w) => w.pid as number);
  t.equal(pids.length, 2, 'two workers');
  t.same(pids.map((p) => p !== process.pid && alive(p)), [true, true], 'each a process of its own');
  t.equal(rig.agent.connections, undefined, 'no connection table in the primary: its connections are rows');
  t.equal((await getJson(rig.readiness)).status, 200, 'ready once both bound');

  const streams: ClientHttp2Stream[] = [];
  for (let i = 0; i < 40; i++) {
    const s = await rig.connect(t);
    t.equal(await status(s), 200, `connection ${i} accepted`);
    streams.push(s);
  }
  const rows = (await getJson(`${rig.admin}/connections`)).body as Row[];
  t.equal(rows.length, 40, 'every live connection listed once');
  const workersSeen = new Set(rows.map((r) => r.worker));
  t.same([...workersSeen].sort(), [...pids].sort(), 'the connections sit in both workers');
  const live = await (await fetch(rig.metrics)).text();
  t.equal(total(live, 'meshlet_tcp_connections_active'), 40, 'live gauge is the sum over workers');
  t.equal(total(live, 'meshlet_agent_workers'), 2);

  let sent = 0;
  const answers = streams.map((s, i) => {
    const payload = randomBytes(1000 + i * 37);
    sent += payload.length;
    const a = readAll(s);
    s.end(payload);
    return a;
  });
  const got = await Promise.all(answers);
  t.equal(got.reduce((n, a) => n + (JSON.parse(a) as { n: number }).n, 0), sent, 'every byte reached the workload');
  await until('no live connection', async () => ((await getJson(`${rig.admin}/connections`)).body as Row[]).length === 0);
  const text = await (await fetch(rig.metrics)).text();
  t.equal(total(text, 'meshlet_tcp_sent_bytes_total'), sent, 'bytes sent summed over the workers');
  t.equal(total(text, 'meshlet_tcp_received_bytes_total'), got.reduce((n, a) => n + Buffer.byteLength(a), 0), 'bytes received summed');
  t.equal(total(text, 'meshlet_tcp_connections_closed_total'), 40);
  t.equal(total(text, 'meshlet_tcp_connections_opened_total', /inbound/), 40);
  t.equal(total(text, 'meshlet_agent_worker_restarts_total'), 0);
  t.ok(total(text, 'process_resident_memory_bytes') > 0, 'the primary\'s process metrics are kept');
  const dump = (await getJson(`${rig.admin}/config_dump`)).body as { workers: Array<{ pid: number; serving: boolean }> };
  t.same(dump.workers.map((w) => w.serving), [true, true], '/config_dump lists the workers');
});

t.test('a TLS ticket issued by one worker is resumed by the other (shared ticket keys)', async (t) => {
  const rig = await workersRig(t);
  const resumed: boolean[] = [];
  const pool = new TunnelPool({ identities: rig.peerIds, logger, tunnelPort: rig.tunnelPort, onHandshake: (r) => void resumed.push(r) });
  t.teardown(() => pool.destroy());
  const workersSeen = new Set<number>();
  // Each session is a new TCP connection: the kernel hashes it to either worker.
  for (let i = 0; i < 12; i++) {
    const s = await pool.open(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: rig.backendPort });
    const session = s.session;
    const result = readAll(s);
    t.equal(await status(s), 200);
    for (const row of (await getJson(`${rig.admin}/connections`)).body as Row[]) workersSeen.add(row.worker);
    s.end('x');
    await result;
    session?.close();
    if (session !== undefined && !session.closed) await once(session, 'close');
  }
  t.equal(workersSeen.size, 2, 'the sessions landed on both workers');
  t.same(resumed, [false, ...Array<boolean>(11).fill(true)], 'every session after the first resumed, whichever worker took it');
});

t.test('a killed worker is restarted with the snapshot and credentials and serves again', async (t) => {
  const rig = await workersRig(t);
  const [first, second] = rig.agent.workers().map((w) => w.pid as number) as [number, number];
  process.kill(first, 'SIGKILL');
  // Event-driven: a restart forks a Node process, which takes seconds on a loaded machine.
  await rig.agent.whenWorkers((ws) => ws.length === 2 && ws[0]?.pid !== first && ws.every((w) => w.serving));
  const restarted = rig.agent.workers()[0]?.pid as number;
  t.not(restarted, first, 'a new process');
  t.equal(rig.agent.workers()[1]?.pid, second, 'the other worker was left alone');
  t.notOk(alive(first), 'the killed worker is gone');
  t.equal((await getJson(rig.readiness)).status, 200, 'still ready');
  const text = await (await fetch(rig.metrics)).text();
  t.equal(total(text, 'meshlet_agent_worker_restarts_total'), 1, 'the restart is counted');
  t.equal(total(text, 'meshlet_agent_workers'), 2);

  // Connections land on either worker: keep opening (bounded) until the new one served one.
  const served = new Set<number>();
  for (let i = 0; i < 40 && !served.has(restarted); i++) {
    const s = await rig.connect(t);
    t.equal(await status(s), 200);
    const rows = (await getJson(`${rig.admin}/connections`)).body as Row[];
    for (const r of rows) served.add(r.worker);
    const answer = readAll(s);
    s.end('ping');
    t.equal((JSON.parse(await answer) as { n: number }).n, 4);
  }
  t.ok(served.has(restarted), 'the restarted worker accepts and serves (snapshot and certificate in place)');
});

t.test('readiness goes false while no worker serves, and back', async (t) => {
  const rig = await workersRig(t);
  const pids = rig.agent.workers().map((w) => w.pid as number);
  t.equal(pids.length, 2, 'two workers');
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  // Waiters run right after readiness followed the change, before any restart timer can fire:
  // what readiness says here is what it says while no worker serves.
  await rig.agent.whenWorkers((ws) => ws.length === 2 && ws.every((w) => !w.serving));
  t.equal(rig.agent.readiness.ready, false, 'not ready while no worker serves');
  t.same(rig.agent.readiness.pending(), ['listeners']);
  await rig.agent.whenWorkers((ws) => ws.length === 2 && ws.every((w) => w.serving && !pids.includes(w.pid as number)));
  t.equal((await getJson(rig.readiness)).status, 200, 'ready with both back');
});

t.test('drain lets a live connection finish, then the workers exit', async (t) => {
  const rig = await workersRig(t);
  const pids = rig.agent.workers().map((w) => w.pid as number);
  t.equal(pids.length, 2, 'two workers');
  const s = await rig.connect(t);
  t.equal(await status(s), 200);
  const answer = readAll(s);
  const drained = rig.agent.drain(5_000);
  await new Promise((r) => setTimeout(r, 100));
  s.end('late bytes');
  t.equal((JSON.parse(await answer) as { n: number }).n, 10, 'the connection finished during the drain');
  await drained;
  t.same(pids.map(alive), [false, false], 'every worker exited');
});

t.test('destroy leaves no child process', async (t) => {
  const rig = await workersRig(t);
  const pids = rig.agent.workers().map((w) => w.pid as number);
  t.equal(pids.length, 2, 'two workers');
  t.same(pids.map(alive), [true, true], 'both alive');
  const s = await rig.connect(t);
  t.equal(await status(s), 200);
  await rig.agent.destroy();
  t.same(pids.map(alive), [false, false], 'no worker left');
  await t.resolves(rig.agent.destroy(), 'destroy is idempotent');
});

t.test('/resilience: one live block per worker, under each worker\'s pid', async (t) => {
  const rig = await workersRig(t);
  const res = await getJson(`${rig.admin}/resilience`);
  t.equal(res.status, 200);
  const body = res.body as { live: boolean; processes: number[] };
  t.equal(body.live, true);
  const pids = rig.agent.workers().map((w) => w.pid ?? -1).sort((a, b) => a - b);
  t.equal(pids.length, 2);
  t.same(body.processes, pids, 'each worker answered');
  t.equal(body.processes.includes(process.pid), false, 'not the primary');
});
