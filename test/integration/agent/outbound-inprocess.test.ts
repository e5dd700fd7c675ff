/**
 * OutboundProxy driven in-process on 127.0.0.1, without root: the original destination is
 * injected (no REDIRECT on loopback), and the routing outcome is checked end to end: a local
 * workload, directly or by Service VIP, gets the bytes; a source the snapshot does not know and a
 * Service without endpoints are refused (reset), never sent on.
 */
import { EventEmitter, once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { pino } from 'pino';
import { ConnectionTable, type ConnectionRecord } from '../../../src/agent/proxy/connection-table.js';
import type { IdentitySource } from '../../../src/agent/identity/manager.js';
import { InboundProxy } from '../../../src/agent/proxy/inbound.js';
import { OutboundProxy, type CapturedAddresses } from '../../../src/agent/proxy/outbound.js';
import { TunnelPool } from '../../../src/agent/proxy/tunnel/pool.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import type { NodeSnapshot, ServiceInfo, WorkloadInfo } from '../../../src/mesh/types.js';

const silent = pino({ level: 'silent' });
/** Generous: the machine may be busy; every wait is for an event, this only bounds a hang. */
const WAIT_MS = 20_000;

function workload(name: string, address: string): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node: 'node1',
    nodeAddress: '198.18.0.11', serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`,
    labels: {}, tlsMode: 'STRICT', namedPorts: [],
  };
}

const noIdentities: IdentitySource = {
  get: () => undefined,
  ensure: async () => { throw new Error('no tunnel in this test'); },
  getBySni: () => undefined,
} as unknown as IdentitySource;

t.test('captured connections routed by the plan, end to end on loopback', async (t) => {
  // The workload: echoes what it gets, upper-cased, so the reply proves it was reached.
  const backend = net.createServer((s) => { s.on('error', () => undefined); s.on('data', (d) => s.end(d.toString().toUpperCase())); });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const backendPort = (backend.address() as AddressInfo).port;

  // The source is only looked up (never dialled), so any address serves.
  const client = workload('client', '127.0.0.2');
  const server = workload('server', '127.0.0.1');
  const svc = (name: string, vip: string, withEndpoint: boolean): ServiceInfo => ({
    key: `demo/${name}`, name, namespace: 'demo', vips: [vip], ports: [{ port: 80, targetPort: backendPort }],
    endpoints: withEndpoint ? [{ workload: server.uid, address: '127.0.0.1', node: 'node1', nodeAddress: '198.18.0.11', meshed: true, identity: server.identity, targetPorts: { 80: backendPort } }] : [],
  });
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local',
    localWorkloads: [client, server], workloads: [client, server], services: [svc('web', '127.0.0.9', true), svc('empty', '127.0.0.10', false)],
  };
  const index = new WorkloadIndex(snapshot, { allowLoopback: true });

  const closed = new EventEmitter();
  const table = new ConnectionTable(silent, { observer: { onClosed: (rec: ConnectionRecord) => void closed.emit(rec.direction, rec) } });
  const inbound = new InboundProxy({ logger: silent, table, index: () => index, agentPorts: new Set() });
  const tunnels = new TunnelPool({ identities: noIdentities, logger: silent, tunnelPort: 1 });
  let next: CapturedAddresses | undefined;
  const outbound = new OutboundProxy({
    logger: silent, table, index: () => index, inbound, tunnels, ownPorts: new Set(),
    captured: () => {
      if (next === undefined) throw new Error('no injected destination');
      return next;
    },
  });
  const capture = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s: Socket) => outbound.onConnection(s));
  capture.listen(0, '127.0.0.1');
  await once(capture, 'listening');
  const capturePort = (capture.address() as AddressInfo).port;
  t.teardown(() => {
    tunnels.destroy();
    capture.close();
    backend.close();
  });

  /** One captured connection: what came back, how it ended, and the outbound record's outcome and flag. */
  async function captured(source: string, address: string, port: number): Promise<{ reply: string; error: string | undefined; mode: string; outcome: string | undefined; flag: string | undefined }> {
    next = { source, destination: { address, port, family: 4 } };
    const record = once(closed, 'outbound', { signal: AbortSignal.timeout(WAIT_MS) }) as Promise<[ConnectionRecord]>;
    const sock = net.connect(capturePort, '127.0.0.1');
    let reply = '';
    let error: string | undefined;
    sock.on('data', (d) => void (reply += d.toString()));
    sock.on('error', (err: NodeJS.ErrnoException) => void (error = err.code ?? err.message));
    sock.write('hello');
    // Not events.once: it rejects on the 'error' a reset brings, and the reset is the expected end.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no close within ${WAIT_MS} ms`)), WAIT_MS);
      sock.once('close', () => { clearTimeout(timer); resolve(); });
    });
    const [rec] = await record;
    return { reply, error, mode: rec.mode, outcome: rec.outcome, flag: rec.responseFlag };
  }

  t.same(await captured('127.0.0.2', '127.0.0.1', backendPort), { reply: 'HELLO', error: undefined, mode: 'local', outcome: 'ok', flag: '-' }, 'a local workload by address gets the bytes in-process');
  t.same(await captured('127.0.0.2', '127.0.0.9', 80), { reply: 'HELLO', error: undefined, mode: 'local', outcome: 'ok', flag: '-' }, 'by Service VIP: the balancer picks the local endpoint');
  const unknown = await captured('127.0.0.50', '127.0.0.1', backendPort);
  t.same({ reply: unknown.reply, error: unknown.error, outcome: unknown.outcome, flag: unknown.flag }, { reply: '', error: 'ECONNRESET', outcome: 'denied', flag: 'UAEX' }, 'an unknown source to a meshed workload is reset');
  const empty = await captured('127.0.0.2', '127.0.0.10', 80);
  t.same({ reply: empty.reply, error: empty.error, outcome: empty.outcome, flag: empty.flag }, { reply: '', error: 'ECONNRESET', outcome: 'no_route', flag: 'UH' }, 'a Service without endpoints is reset');
});
