/**
 * The shapes the source side's L7 files share (`outbound-http.ts` serves connections,
 * `outbound-exchange.ts` carries out one request, `outbound-mirror.ts` sends copies): here, so
 * that none of them imports another back.
 */
import type { ClientHttp2Stream, OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { WorkloadInfo } from '../../mesh/types.js';
import type { BalancerRegistry } from '../policy/balancer.js';
import type { ErrorKind } from '../policy/respond.js';
import type { TunnelTarget } from '../proxy/tunnel/pool.js';
import type { OutboundTarget, ServicePortEntry, WorkloadIndex } from '../state/workload-index.js';
import type { HttpProto, RequestHead, RequestSource, RequestTarget, UpstreamCall } from './exchange.js';
import type { RoutedUpgrade } from './outbound-upgrade.js';
import type { WorkloadThrottle } from '../proxy/bandwidth-throttle.js';

/** Opens a non-CONNECT request on a pooled tunnel session (`TunnelPool.request`). */
export type TunnelRequester = (sourceIdentity: string, target: TunnelTarget, headers: OutgoingHttpHeaders, endStream: boolean) => Promise<ClientHttp2Stream>;
/** How a call is made: `endStream` when the request has no body (sent without one). */
export interface CallOptions {
  readonly endStream: boolean;
}
/** The destination side in-process, for a meshed endpoint on this node. */
export type LocalCaller = (source: RequestSource, target: RequestTarget, head: RequestHead, opts: CallOptions) => UpstreamCall;
/** The plaintext upstream pool, for an endpoint that is not meshed. */
export type PlaintextCaller = (target: RequestTarget, head: RequestHead, opts: CallOptions) => UpstreamCall;

/** What the outbound side knows about a connection it hands over. */
export interface HttpConnection {
  readonly source: WorkloadInfo;
  /** `address:port` of the application's socket. */
  readonly sourceAddress: string;
  /** The same address without the port (a consistent-hash source IP). */
  readonly sourceIp: string;
  /** The Service port the application dialled. */
  readonly entry: ServicePortEntry;
  /** The source workload's `meshlet.io/max-bandwidth` throttle, when it has one: request and response bodies are charged to it. */
  readonly throttle?: WorkloadThrottle;
  /** The upstream protocol the port declares (`HTTP/2` for http2 and grpc ports), else undefined: the application's. */
  readonly upstreamProto?: HttpProto;
  /** Called once when the connection closes (not after an upgrade: the L4 path reports it then). */
  readonly onClose: (failure: ErrorKind | undefined, reason: string | undefined) => void;
  /**
   * An `Upgrade` request (WebSocket, ...) was routed to `target`. To a meshed endpoint on
   * another node it goes as an extended CONNECT (`routed`, see `outbound-upgrade.ts`) when
   * `routed.protocol` is set and the peer agent takes one; otherwise the socket, with the
   * request head `replay`ed in front of its bytes, goes on as an opaque L4 connection to that
   * endpoint (the workload answers 101 itself; after it the bytes are spliced). Absent:
   * upgrades refused.
   */
  readonly upgrade?: (socket: Socket, target: UpgradeTarget, replay: Buffer, routed: RoutedUpgrade) => void;
}

/** Where an upgraded connection goes: the endpoint picked for its request. */
export type UpgradeTarget = Extract<OutboundTarget, { kind: 'meshed' | 'plaintext' }>;

/** How a request's calls are made: what an exchange and a mirror need of the server's options. */
export interface ExchangeCalls {
  readonly balancers: BalancerRegistry;
  readonly tunnel: TunnelRequester;
  readonly local: LocalCaller;
  readonly plaintext: PlaintextCaller;
  /** The consistent-hash key of a request for a Service port's balancer (default: none). */
  readonly hashKeyOf?: (index: WorkloadIndex, entry: ServicePortEntry, headers: Readonly<Record<string, string | string[] | undefined>>, sourceAddress: string) => string | undefined;
}
