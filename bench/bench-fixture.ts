/**
 * Everything the scenarios need in a lab that is up with its agents: namespace tuning, the
 * servers in both server pods, certificates from the lab's CA, the HAProxy pair pinned to the
 * TLS parameters meshlet's tunnel negotiates (checked by handshakes against both), and the
 * pids of the proxies of each path.
 *
 * @module
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { sniForIdentity } from '../src/agent/identity/sni.js';
import type { Lab } from '../src/lab/index.js';
import { HTTP_BODY_BYTES } from './bench-options.js';
import { issueBenchCertificates, type BenchCertificates, type IssuedFiles } from './bench-certificates.js';
import { CLIENT_SA, FLOOD_PODS, HAPROXY_TLS_PORT_OFFSET, L7_PORTS, MESHED_NAMESPACE, PLAIN_NAMESPACE, PORTS, SERVER_SA, pathTargets, spiffeId, type PathTarget } from './bench-topology.js';
import type { PathName, TlsFacts } from './bench-types.js';
import { renderOriginConfig, renderPairConfig, type PinnedTls } from './haproxy-config.js';
import { renderHttpPairConfig, type HttpPairPort } from './haproxy-http-config.js';
import { startServer, tuneNamespace, type LoggedProcess } from './lab-processes.js';

const TLS_PROBE = fileURLToPath(new URL('./tools/tls-probe.js', import.meta.url));
/** meshlet's tunnel port (the agents run with defaults). */
const TUNNEL_PORT = 15008;
/** Used when meshlet's tunnel cannot be probed: what Node.js 20 negotiates with itself. */
const FALLBACK_TLS: PinnedTls = { version: 'TLSv1.3', cipherSuite: 'TLS_AES_256_GCM_SHA384', group: 'X25519' };

/** The prepared lab. */
export interface BenchFixture {
  readonly lab: Lab;
  readonly workDir: string;
  readonly targets: Readonly<Record<PathName, PathTarget>>;
  /** Proxy pids of a path, node1's first (empty for direct). */
  readonly proxyPids: Readonly<Record<PathName, readonly number[]>>;
  readonly tls: Partial<Record<'meshlet' | 'haproxy' | 'haproxy-http', TlsFacts>>;
  /** Connections one HAProxy may hold: two descriptors each under the fd limit. */
  readonly haproxyMaxConnections: number;
  /** Pids of the servers in the server pods (iperf3, sockperf, the HTTP origin). */
  readonly serverPids: readonly number[];
  readonly notes: string[];
}

/** Options of {@link prepareFixture}. */
export interface FixtureOptions {
  readonly paths: readonly PathName[];
  readonly haproxyThreads: number;
  readonly fdLimit: number;
  readonly logger: Logger;
  /** `--pin`: the CPUs the HAProxy processes run on (`taskset -c`); absent: wherever the kernel puts them. */
  readonly proxyCpus?: readonly number[];
}

async function startPodServers(lab: Lab, pod: string, dir: string): Promise<LoggedProcess[]> {
  const body = join(dir, 'body.txt');
  // 1 KiB of text, newline-terminated so the body reads well in curl by hand.
  writeFileSync(body, `${'x'.repeat(HTTP_BODY_BYTES - 1)}\n`);
  const origin = join(dir, `origin-${pod}.cfg`);
  writeFileSync(origin, renderOriginConfig({ port: PORTS.web, h2cPort: L7_PORTS.h2c, bodyFile: body, maxConnections: 4096 }));
  const floodOrigin = join(dir, `origin-flood-${pod}.cfg`);
  writeFileSync(floodOrigin, renderOriginConfig({ port: PORTS.flood, bodyFile: body, maxConnections: 4096 }));
  const log = (name: string): string => join(dir, `${name}-${pod}.log`);
  return Promise.all([
    startServer(lab, pod, 'iperf3', PORTS.iperf, 'iperf3', ['-s', '-p', String(PORTS.iperf)], log('iperf3')),
    startServer(lab, pod, 'sockperf', PORTS.sockperf, 'sockperf', ['server', '--tcp', '-i', '0.0.0.0', '-p', String(PORTS.sockperf)], log('sockperf')),
    startServer(lab, pod, 'origin', PORTS.web, 'haproxy', ['-db', '-f', origin], log('origin')),
    startServer(lab, pod, 'flood origin', PORTS.flood, 'haproxy', ['-db', '-f', floodOrigin], log('origin-flood')),
  ]);
}

interface ProbeResult {
  readonly ok: boolean;
  readonly facts?: TlsFacts;
  readonly error?: string;
}

async function probeTls(lab: Lab, from: string, host: string, port: number, client: IssuedFiles, caFile: string, sni: string, alpn?: string): Promise<ProbeResult> {
  const args = [host, String(port), client.certFile, client.keyFile, caFile, sni, ...(alpn === undefined ? [] : [alpn])];
  const r = await lab.runNode(from, TLS_PROBE, args, { timeoutMs: 15_000 });
  try {
    const v = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { ok?: unknown; protocol?: unknown; cipher?: unknown; group?: unknown; error?: unknown };
    if (v.ok === true && typeof v.protocol === 'string' && typeof v.cipher === 'string' && typeof v.group === 'string') {
      return { ok: true, facts: { protocol: v.protocol, cipher: v.cipher, group: v.group } };
    }
    return { ok: false, error: String(v.error) };
  } catch {
    return { ok: false, error: `probe printed ${JSON.stringify(r.stdout)} ${JSON.stringify(r.stderr)}` };
  }
}

async function startPair(lab: Lab, dir: string, certs: BenchCertificates, tls: PinnedTls, opts: FixtureOptions, maxConnections: number): Promise<LoggedProcess[]> {
  const ports = Object.entries(PORTS).map(([name, port]) => ({ name, port, tlsPort: port + HAPROXY_TLS_PORT_OFFSET }));
  const common = {
    threads: opts.haproxyThreads,
    maxConnections,
    tls,
    ports,
    frontAddress: lab.nodeAddress('node1'),
    backAddress: lab.nodeAddress('node2'),
    serverAddress: lab.podAddress('pserver'),
    caFile: certs.caFile,
  };
  const sides = [
    { node: 'node1', role: 'client-side' as const, cert: certs.issued['front'], port: PORTS.web },
    { node: 'node2', role: 'server-side' as const, cert: certs.issued['back'], port: PORTS.web + HAPROXY_TLS_PORT_OFFSET },
  ];
  const procs: LoggedProcess[] = [];
  for (const side of sides) {
    const cfg = join(dir, `haproxy-${side.node}.cfg`);
    writeFileSync(cfg, renderPairConfig({ ...common, role: side.role, certKeyFile: side.cert?.combinedFile ?? '' }));
    procs.push(await startServer(lab, side.node, `haproxy ${side.role}`, side.port, 'haproxy', ['-db', '-f', cfg], join(dir, `haproxy-${side.node}.log`), opts.proxyCpus));
  }
  return procs;
}

/** The HTTP pair's ports: node1 fronts on the L7 Service port numbers, node2 takes TLS 20,000 above. */
const HTTP_PAIR_PORTS: readonly HttpPairPort[] = [
  { name: 'http', frontPort: L7_PORTS.http, tlsPort: L7_PORTS.http + HAPROXY_TLS_PORT_OFFSET, serverPort: PORTS.web, protocol: 'http1' },
  { name: 'http2', frontPort: L7_PORTS.http2, tlsPort: L7_PORTS.http2 + HAPROXY_TLS_PORT_OFFSET, serverPort: L7_PORTS.h2c, protocol: 'h2c' },
];

/** The HAProxy HTTP pair (mode http, per-request balancing, HTTP/2 over mTLS between the two). */
async function startHttpPair(lab: Lab, dir: string, certs: BenchCertificates, tls: PinnedTls, opts: FixtureOptions, maxConnections: number): Promise<LoggedProcess[]> {
  const common = {
    threads: opts.haproxyThreads,
    maxConnections,
    tls,
    ports: HTTP_PAIR_PORTS,
    frontAddress: lab.nodeAddress('node1'),
    backAddress: lab.nodeAddress('node2'),
    serverAddresses: [lab.podAddress('pserver')],
    caFile: certs.caFile,
  };
  const sides = [
    { node: 'node1', role: 'client-side' as const, cert: certs.issued['front'], port: L7_PORTS.http },
    { node: 'node2', role: 'server-side' as const, cert: certs.issued['back'], port: L7_PORTS.http + HAPROXY_TLS_PORT_OFFSET },
  ];
  const procs: LoggedProcess[] = [];
  for (const side of sides) {
    const cfg = join(dir, `haproxy-http-${side.node}.cfg`);
    writeFileSync(cfg, renderHttpPairConfig({ ...common, role: side.role, certKeyFile: side.cert?.combinedFile ?? '' }));
    procs.push(await startServer(lab, side.node, `haproxy http ${side.role}`, side.port, 'haproxy', ['-db', '-f', cfg], join(dir, `haproxy-http-${side.node}.log`), opts.proxyCpus));
  }
  return procs;
}

/**
 * Prepares the lab for the scenarios of `opts.paths`. The meshlet tunnel is probed first; the
 * HAProxy pair is then pinned to what it negotiated and probed in turn. A mismatch or a failed
 * probe is not fatal: it is written in `notes`, which the report prints.
 */
export async function prepareFixture(lab: Lab, opts: FixtureOptions): Promise<BenchFixture> {
  const dir = join(lab.dir, 'bench');
  mkdirSync(dir, { recursive: true });
  const notes: string[] = [];
  for (const member of ['mclient', 'pclient', FLOOD_PODS.meshed, FLOOD_PODS.plain, 'node1', 'node2']) await tuneNamespace(lab, member);
  const serverPods = new Set(opts.paths.map((p) => (p === 'meshlet' || p === 'meshlet-l7' ? 'mserver' : 'pserver')));
  const servers: LoggedProcess[] = [];
  for (const pod of serverPods) servers.push(...(await startPodServers(lab, pod, dir)));

  const certs = await issueBenchCertificates(lab.paths.stateDir, join(dir, 'certs'), {
    probe: spiffeId(MESHED_NAMESPACE, CLIENT_SA),
    front: spiffeId(PLAIN_NAMESPACE, 'front-proxy'),
    back: spiffeId(PLAIN_NAMESPACE, 'back-proxy'),
  }, opts.logger);
  const tls: BenchFixture['tls'] = {};
  const server = spiffeId(MESHED_NAMESPACE, SERVER_SA);
  const meshletProbe = await probeTls(lab, 'node1', lab.nodeAddress('node2'), TUNNEL_PORT, certs.issued['probe'] as IssuedFiles, certs.caFile, sniForIdentity(server), 'h2');
  if (meshletProbe.facts !== undefined) tls.meshlet = meshletProbe.facts;
  else notes.push(`could not probe meshlet's tunnel TLS (${meshletProbe.error}); HAProxy pinned to ${JSON.stringify(FALLBACK_TLS)}`);
  const pinned: PinnedTls = meshletProbe.facts === undefined
    ? FALLBACK_TLS
    : { version: meshletProbe.facts.protocol, cipherSuite: meshletProbe.facts.cipher, group: meshletProbe.facts.group };

  const haproxyMaxConnections = Math.max(100, Math.floor((opts.fdLimit - 200) / 2));
  let pair: LoggedProcess[] = [];
  if (opts.paths.includes('haproxy')) {
    pair = await startPair(lab, dir, certs, pinned, opts, haproxyMaxConnections);
    const hp = await probeTls(lab, 'node1', lab.nodeAddress('node2'), PORTS.web + HAPROXY_TLS_PORT_OFFSET, certs.issued['front'] as IssuedFiles, certs.caFile, '');
    if (hp.facts !== undefined) tls.haproxy = hp.facts;
    else notes.push(`could not probe the HAProxy pair's TLS: ${hp.error}`);
    if (tls.meshlet !== undefined && tls.haproxy !== undefined && JSON.stringify(tls.meshlet) !== JSON.stringify(tls.haproxy)) {
      notes.push(`TLS differs between the paths: meshlet ${JSON.stringify(tls.meshlet)}, HAProxy ${JSON.stringify(tls.haproxy)}`);
    }
  }
  let httpPair: LoggedProcess[] = [];
  if (opts.paths.includes('haproxy-http')) {
    httpPair = await startHttpPair(lab, dir, certs, pinned, opts, haproxyMaxConnections);
    const hp = await probeTls(lab, 'node1', lab.nodeAddress('node2'), L7_PORTS.http + HAPROXY_TLS_PORT_OFFSET, certs.issued['front'] as IssuedFiles, certs.caFile, '', 'h2');
    if (hp.facts !== undefined) tls['haproxy-http'] = hp.facts;
    else notes.push(`could not probe the HAProxy HTTP pair's TLS: ${hp.error}`);
  }
  const agentPids = ['node1', 'node2'].map((n) => lab.agentPid(n)).filter((p): p is number => p !== undefined);
  return {
    lab,
    workDir: dir,
    targets: pathTargets(lab),
    proxyPids: { direct: [], meshlet: agentPids, haproxy: pair.map((p) => p.pid), 'meshlet-l7': agentPids, 'haproxy-http': httpPair.map((p) => p.pid) },
    tls,
    haproxyMaxConnections,
    serverPids: servers.map((s) => s.pid),
    notes,
  };
}
