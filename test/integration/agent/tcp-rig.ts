/**
 * An OutboundProxy on 127.0.0.1 for the L4 resilience tests, without root: every captured
 * connection is from the local workload `client` to the Service VIP 127.0.0.9:80 (injected, no
 * REDIRECT on loopback), whose endpoints are plaintext (not meshed) backends on loopback unless
 * the test gives its own. The closed outbound records, the resilience counters and the passive
 * health registry are the test's to read.
 */
import { EventEmitter, once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import { pino } from 'pino';
import { ConnectionTable, type ConnectionRecord } from '../../../src/agent/proxy/connection-table.js';
import type { IdentitySource } from '../../../src/agent/identity/manager.js';
import { InboundProxy } from '../../../src/agent/proxy/inbound.js';
import { OutboundProxy } from '../../../src/agent/proxy/outbound.js';
import { TunnelPool } from '../../../src/agent/proxy/tunnel/pool.js';
import { OutlierRegistry } from '../../../src/agent/proxy/outlier-registry.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import type { EndpointInfo, NodeSnapshot, ServiceInfo, TrafficPolicyInfo, WorkloadInfo } from '../../../src/mesh/types.js';

const silent = pino({ level: 'silent' });
/** Generous: the machine may be busy; every wait is for an event, this only bounds a hang. */
export const WAIT_MS = 20_000;
export const VIP = '127.0.0.9';

type Teardown = { teardown(fn: () => void | Promise<void>): void };

export function workload(name: string, address: string, node = 'node1', nodeAddress = '198.18.0.11'): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node,
    nodeAddress, serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`,
    labels: {}, tlsMode: 'STRICT', namedPorts: [],
  };
}

/** A plaintext endpoint (not meshed) at 127.0.0.1:`port`. */
export function plainEndpoint(name: string, port: number): EndpointInfo {
  return { workload: `Pod/demo/${name}`, address: '127.0.0.1', node: 'node1', nodeAddress: '198.18.0.11', meshed: false, targetPorts: { 80: port } };
}

export function trafficPolicy(sections: Partial<TrafficPolicyInfo>): TrafficPolicyInfo {
  return { policy: 'demo/p', balancer: { algorithm: 'round-robin' }, hashKeys: [], preferLocalZone: false, ...sections };
}

/** A backend that answers each chunk upper-cased and ends when the client ends (a held connection stays open). */
export async function echoBackend(t: Teardown): Promise<{ port: number; accepted: number; server: net.Server }> {
  const state = { port: 0, accepted: 0, server: undefined as unknown as net.Server };
  const open = new Set<Socket>();
  state.server = net.createServer({ allowHalfOpen: true }, (s) => {
    state.accepted++;
    open.add(s);
    s.on('error', () => undefined);
    s.on('close', () => open.delete(s));
    s.on('data', (d) => s.write(d.toString().toUpperCase()));
    s.on('end', () => s.end());
  });
  state.server.listen(0, '127.0.0.1');
  await once(state.server, 'listening');
  state.port = (state.server.address() as AddressInfo).port;
  t.teardown(() => {
    for (const s of open) s.destroy();
    state.server.close();
  });
  return state;
}

export interface Counted {
  readonly overflow: string[];
  readonly fault: string[];
  readonly ejected: string[];
}

export interface TcpRig {
  readonly proxy: OutboundProxy;
  readonly outliers: OutlierRegistry;
  readonly counted: Counted;
  /** Emits `outbound` with each closed outbound record. */
  readonly closed: EventEmitter;
  /** Closed outbound records in the order they closed (taken by {@link nextRecord}). */
  readonly records: ConnectionRecord[];
  readonly capturePort: number;
  /** Sets the snapshot in force (the Service `demo/web` with `endpoints` and `policy`). */
  setService(endpoints: EndpointInfo[], policy?: TrafficPolicyInfo): void;
}

export interface TcpRigOptions {
  readonly endpoints: EndpointInfo[];
  readonly policy?: TrafficPolicyInfo;
  readonly random?: () => number;
  readonly tunnels?: TunnelPool;
  /** Workloads of other nodes the endpoints may be (meshed endpoints are tunnelled to them). */
  readonly remote?: WorkloadInfo[];
  /** Meshed workloads of this node besides `client` (their endpoints are handed over in-process). */
  readonly local?: WorkloadInfo[];
}

const noIdentities = {
  get: () => undefined,
  ensure: async () => { throw new Error('no tunnel in this test'); },
  getBySni: () => undefined,
} as unknown as IdentitySource;

export async function tcpRig(t: Teardown, opts: TcpRigOptions): Promise<TcpRig> {
  const client = workload('client', '127.0.0.2');
  const others = { remote: opts.remote ?? [], local: opts.local ?? [] };
  let index = indexOf(client, opts.endpoints, opts.policy, others);
  const closed = new EventEmitter();
  // Every concurrent client waits for its own record here.
  closed.setMaxListeners(0);
  const records: ConnectionRecord[] = [];
  const onClosed = (rec: ConnectionRecord): void => {
    if (rec.direction === 'outbound') records.push(rec);
    closed.emit(rec.direction, rec);
  };
  const table = new ConnectionTable(silent, { observer: { onClosed } });
  const inbound = new InboundProxy({ logger: silent, table, index: () => index, agentPorts: new Set() });
  const tunnels = opts.tunnels ?? new TunnelPool({ identities: noIdentities, logger: silent, tunnelPort: 1 });
  const counted: Counted = { overflow: [], fault: [], ejected: [] };
  const outliers = new OutlierRegistry({ now: () => performance.now(), onEject: (service, reason) => void counted.ejected.push(`${service} ${reason}`) });
  const proxy = new OutboundProxy({
    logger: silent, table, index: () => index, inbound, tunnels, ownPorts: new Set(),
    captured: () => ({ source: client.addresses[0] as string, destination: { address: VIP, port: 80, family: 4 } }),
    outliers,
    resilience: {
      overflow: (service, threshold) => void counted.overflow.push(`${service} ${threshold}`),
      fault: (service, kind) => void counted.fault.push(`${service} ${kind}`),
    },
    ...(opts.random === undefined ? {} : { random: opts.random }),
  });
  const capture = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s: Socket) => proxy.onConnection(s));
  capture.listen(0, '127.0.0.1');
  await once(capture, 'listening');
  t.teardown(() => {
    outliers.close();
    tunnels.destroy();
    capture.close();
  });
  return {
    proxy, outliers, counted, closed, records, capturePort: (capture.address() as AddressInfo).port,
    setService(endpoints, policy) {
      index = indexOf(client, endpoints, policy, others);
    },
  };
}

function indexOf(client: WorkloadInfo, endpoints: EndpointInfo[], policy: TrafficPolicyInfo | undefined, others: { remote: WorkloadInfo[]; local: WorkloadInfo[] }): WorkloadIndex {
  const svc: ServiceInfo = {
    key: 'demo/web', name: 'web', namespace: 'demo', vips: [VIP], ports: [{ port: 80, targetPort: 80 }], endpoints,
    ...(policy === undefined ? {} : { trafficPolicy: policy }),
  };
  const snapshot: NodeSnapshot = {
    version: `v${Math.random()}`, node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local',
    localWorkloads: [client, ...others.local], workloads: [client, ...others.local, ...others.remote], services: [svc],
  };
  return new WorkloadIndex(snapshot, { allowLoopback: true });
}

/** How one client connection ended, as the client and the outbound record saw it. */
export interface Ended {
  readonly reply: string;
  readonly error: string | undefined;
  readonly failure: string | undefined;
  readonly flag: string | undefined;
  readonly ms: number;
}

/** Waits for `sock` to close (an RST is an expected end: not events.once, which rejects on it). */
export function closedSocket(sock: Socket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no close within ${WAIT_MS} ms`)), WAIT_MS);
    sock.once('close', () => { clearTimeout(timer); resolve(); });
  });
}

/** What one client saw: its reply and error (no record: see {@link oneShot}). */
export async function client(rig: TcpRig, opts: { end?: boolean } = {}): Promise<{ reply: string; error: string | undefined; ms: number }> {
  const started = performance.now();
  const sock = net.connect(rig.capturePort, '127.0.0.1');
  let reply = '';
  let error: string | undefined;
  sock.on('data', (d) => void (reply += d.toString()));
  sock.on('error', (err: NodeJS.ErrnoException) => void (error = err.code ?? err.message));
  if (opts.end === false) sock.write('hello');
  else sock.end('hello');
  await closedSocket(sock);
  return { reply, error, ms: performance.now() - started };
}

/**
 * One connection through the proxy that sends `hello` (and ends, unless `end` is false): its
 * reply, error and outbound record. One at a time: the record is the next one to close.
 */
export async function oneShot(rig: TcpRig, opts: { end?: boolean } = {}): Promise<Ended> {
  const seen = await client(rig, opts);
  const rec = await nextRecord(rig);
  return { ...seen, failure: rec.failure, flag: rec.responseFlag };
}

/** The next closed outbound record (waits for it). */
export async function nextRecord(rig: TcpRig): Promise<ConnectionRecord> {
  const deadline = performance.now() + WAIT_MS;
  for (;;) {
    const rec = rig.records.shift();
    if (rec !== undefined) return rec;
    if (performance.now() > deadline) throw new Error(`no outbound record within ${WAIT_MS} ms`);
    await once(rig.closed, 'outbound', { signal: AbortSignal.timeout(WAIT_MS) }).catch(() => undefined);
  }
}
/** A connection held open through the proxy once its `hello` came back (`HELLO`). */
export async function held(rig: TcpRig): Promise<Socket> {
  const sock = net.connect(rig.capturePort, '127.0.0.1');
  sock.on('error', () => undefined);
  sock.write('hello');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply within ${WAIT_MS} ms`)), WAIT_MS);
    sock.once('data', () => { clearTimeout(timer); resolve(); });
    sock.once('close', () => { clearTimeout(timer); reject(new Error('closed before the reply')); });
  });
  return sock;
}
