/**
 * The bench lab: two nodes; on node1 a meshed and a plain client pod, on node2 a meshed and a
 * plain server pod, and the paths between them (the L7 scenarios add meshlet L7 and the
 * HAProxy HTTP pair, see {@link L7_PORTS}). Every server pod runs the same servers
 * on the same ports, so a load generator changes nothing but its target between paths.
 *
 * ```
 * direct:  pclient ---------------- node1 -- fabric -- node2 ----------------> pserver
 * meshlet: mclient -> agent node1 ==== mTLS HTTP/2 CONNECT ==== agent node2 -> mserver
 * haproxy: pclient -> haproxy node1 === mTLS (one TLS per conn) === haproxy node2 -> pserver
 * ```
 *
 * @module
 */

import type { Lab, LabTopology } from '../src/lab/index.js';
import { MESH_ENABLED, MESH_LABEL } from '../src/mesh/types.js';
import type { PathName } from './bench-types.js';

/** The servers every server pod runs, by port. */
export const PORTS = {
  /** iperf3 -s */
  iperf: 5201,
  /** sockperf server (TCP echo of 1 KiB messages) */
  sockperf: 11111,
  /**
   * HAProxy answering HTTP/1.1 with a fixed body. The Service port is named `web` and declared
   * `appProtocol: tcp` (as every port here): the agent neither sniffs nor parses it, so this
   * comparison stays L4 against HAProxy in TCP mode.
   */
  web: 8080,
  /** conn-holder: accepts and keeps idle connections */
  hold: 9000,
  /**
   * A second HTTP origin (its own HAProxy process, same answer as `web`): the small-request
   * flood of `noisy-neighbour` goes here, so the quiet pod's requests do not queue behind the
   * flood's in one single-threaded origin; what is measured is the path, not the server.
   */
  flood: 8090,
} as const;

/** Name of a server port. */
export type ServerPort = keyof typeof PORTS;

/**
 * The second HAProxy listens for its peer's TLS on the server port plus this: 25201, 31111,
 * 28080, 29000, all below the ephemeral range so they never clash with outgoing connections.
 */
export const HAPROXY_TLS_PORT_OFFSET = 20_000;

/**
 * Ports of the L7 scenarios. The origin also answers h2c (HTTP/2 prior knowledge) on `h2c`.
 * The Service declares each origin twice: opaque (`web`, `h2c`: `appProtocol: tcp`, the
 * meshlet L4 path) and HTTP (`http` -> web, `http2` -> h2c: the meshlet L7 path), so one
 * lab, one pair of agents and one origin serve both meshlet columns. The HAProxy HTTP pair's
 * node1 listens on the `http` and `http2` port numbers (the TCP pair has the others).
 */
export const L7_PORTS = {
  /** h2c origin in the server pods, Service port declared `tcp`. */
  h2c: 8082,
  /** Service port `appProtocol: http`, target the HTTP/1.1 origin. */
  http: 8081,
  /** Service port `appProtocol: http2`, target the h2c origin. */
  http2: 8083,
} as const;

/** HTTP version a load generator speaks in the L7 scenarios. */
export type HttpVersion = 'http1' | 'h2c';

export const MESHED_NAMESPACE = 'bench';
export const PLAIN_NAMESPACE = 'plain';
export const CLIENT_SA = 'client';
export const SERVER_SA = 'server';
export const SERVICE_NAME = 'server';
/** The noisy neighbour's service account: a workload of its own, told apart from the client's by the agent. */
export const FLOOD_SA = 'flood';
/** The noisy neighbour pods on node1: meshed (beside `mclient`) and plain (beside `pclient`). */
export const FLOOD_PODS = { meshed: 'mflood', plain: 'pflood' } as const;

/** The pod on node1 that floods beside a path's client pod. */
export function floodPodOf(target: Pick<PathTarget, 'clientPod'>): string {
  return target.clientPod === 'mclient' ? FLOOD_PODS.meshed : FLOOD_PODS.plain;
}

/** The bench topology under a lab name. */
export function benchTopology(name: string, opts: { readonly floodShare?: number | undefined } = {}): LabTopology {
  const floodAnnotations = opts.floodShare === undefined ? {} : { annotations: { 'meshlet.io/max-agent-share': `${opts.floodShare}%` } };
  return {
    name,
    nodes: [{ name: 'node1' }, { name: 'node2' }],
    namespaces: [
      { name: MESHED_NAMESPACE, labels: { [MESH_LABEL]: MESH_ENABLED } },
      { name: PLAIN_NAMESPACE, labels: {} },
    ],
    pods: [
      { name: 'mclient', namespace: MESHED_NAMESPACE, node: 'node1', serviceAccount: CLIENT_SA, labels: { app: 'client' } },
      { name: 'pclient', namespace: PLAIN_NAMESPACE, node: 'node1', labels: { app: 'client' } },
      // The noisy neighbours of the clients (`noisy-neighbour`): another workload on node1.
      { name: FLOOD_PODS.meshed, namespace: MESHED_NAMESPACE, node: 'node1', serviceAccount: FLOOD_SA, labels: { app: 'flood' }, ...floodAnnotations },
      { name: FLOOD_PODS.plain, namespace: PLAIN_NAMESPACE, node: 'node1', labels: { app: 'flood' } },
      { name: 'mserver', namespace: MESHED_NAMESPACE, node: 'node2', serviceAccount: SERVER_SA, labels: { app: 'server' } },
      { name: 'pserver', namespace: PLAIN_NAMESPACE, node: 'node2', labels: { app: 'server' } },
    ],
    services: [
      {
        name: SERVICE_NAME,
        namespace: MESHED_NAMESPACE,
        selector: { app: 'server' },
        ports: [
          ...Object.entries(PORTS).map(([portName, port]) => ({ name: portName, port, appProtocol: 'tcp' })),
          { name: 'h2c', port: L7_PORTS.h2c, appProtocol: 'tcp' },
          { name: 'http', port: L7_PORTS.http, targetPort: PORTS.web, appProtocol: 'http' },
          { name: 'http2', port: L7_PORTS.http2, targetPort: L7_PORTS.h2c, appProtocol: 'http2' },
        ],
      },
    ],
  };
}

/** Where a path's load generator runs and what it dials. */
export interface PathTarget {
  readonly path: PathName;
  readonly clientPod: string;
  /** Address the client connects to (same ports on every path). */
  readonly host: string;
  /** The pod whose servers answer. */
  readonly serverPod: string;
  /** Nodes whose proxy carries this path's bytes (none for direct). */
  readonly proxied: boolean;
}

/**
 * The paths. meshlet dials the Service VIP, as a workload would; the agent resolves it to the
 * server pod. HAProxy's client dials the node1 proxy's own address.
 */
export function pathTargets(lab: Lab): Readonly<Record<PathName, PathTarget>> {
  const vip = lab.serviceVip(MESHED_NAMESPACE, SERVICE_NAME);
  return {
    direct: { path: 'direct', clientPod: 'pclient', host: lab.podAddress('pserver'), serverPod: 'pserver', proxied: false },
    meshlet: { path: 'meshlet', clientPod: 'mclient', host: vip, serverPod: 'mserver', proxied: true },
    haproxy: { path: 'haproxy', clientPod: 'pclient', host: lab.nodeAddress('node1'), serverPod: 'pserver', proxied: true },
    'meshlet-l7': { path: 'meshlet-l7', clientPod: 'mclient', host: vip, serverPod: 'mserver', proxied: true },
    'haproxy-http': { path: 'haproxy-http', clientPod: 'pclient', host: lab.nodeAddress('node1'), serverPod: 'pserver', proxied: true },
  };
}

/**
 * The port an L7 scenario's client dials on a path: the origin itself (direct), the Service
 * port declared opaque (meshlet L4) or HTTP (meshlet L7), the HTTP pair's front (HAProxy).
 */
export function httpPort(path: PathName, version: HttpVersion): number {
  const h1 = version === 'http1';
  switch (path) {
    case 'direct':
    case 'meshlet':
    case 'haproxy':
      return h1 ? PORTS.web : L7_PORTS.h2c;
    case 'meshlet-l7':
    case 'haproxy-http':
      return h1 ? L7_PORTS.http : L7_PORTS.http2;
  }
}

/** SPIFFE ID of a service account in a namespace (trust domain `cluster.local`). */
export function spiffeId(namespace: string, serviceAccount: string): string {
  return `spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`;
}
