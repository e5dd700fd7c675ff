/**
 * What a Service port declares about its protocol, from `appProtocol` and the port name: pure.
 * The data path uses it to choose, per captured connection, between L7 (declared HTTP),
 * the opaque splice with no sniffing (declared opaque) and detection (`detect.ts`, `sniff.ts`).
 *
 * Conventions followed:
 * - Kubernetes `appProtocol` (KEP-3726): `kubernetes.io/h2c` (HTTP/2 prior knowledge),
 *   `kubernetes.io/ws` (WebSocket over cleartext HTTP/1.1), `kubernetes.io/wss` (over TLS);
 *   other values are IANA service names, read like a port name below.
 * - Istio's protocol selection (`name: <protocol>[-<suffix>]`, or the same word in
 *   `appProtocol`): `http`, `http2`, `grpc`, `grpc-web` are HTTP; `tcp`, `tls`, `https`,
 *   `mongo`, `mysql`, `redis`, `udp` are opaque (meshlet never terminates the application's TLS,
 *   and has no Mongo/MySQL/Redis filters). Matching is case-insensitive, as in Istio.
 * Differences from Istio, on purpose: an `appProtocol` meshlet does not know does not hide the
 * port name (Istio stops at `appProtocol`); and an operator's opaque-port list wins over both.
 */
import type { ServicePort } from './types.js';

/**
 * - `http`: HTTP/1.1 or h2c, the version told by the first bytes (HTTP clients speak first, so
 *   no wait), no fallback to opaque;
 * - `http2`: HTTP/2 with prior knowledge (h2c); `grpc`: HTTP/2 carrying gRPC;
 * - `tcp`: opaque, never sniffed; `detect`: sniff, then L7 or opaque.
 */
export type PortProtocol = 'http' | 'http2' | 'grpc' | 'tcp' | 'detect';

/**
 * Protocols declared HTTP: their connections carry requests the destination can check one by
 * one (authorization's `connection-http` mode). `detect` is not one: it may be opaque.
 */
export const HTTP_PROTOCOLS: ReadonlySet<PortProtocol> = new Set(['http', 'http2', 'grpc']);

/** Protocol words of port names and `appProtocol` values (Istio's list), lower case. */
const PROTOCOL_WORDS: ReadonlyMap<string, PortProtocol> = new Map([
  ['http', 'http'],
  ['http2', 'http2'],
  ['grpc', 'grpc'],
  // gRPC-Web is HTTP/1.1 or HTTP/2 with its own framing in the body: plain HTTP to the proxy.
  ['grpc-web', 'http'],
  ['tcp', 'tcp'],
  ['tls', 'tcp'],
  ['https', 'tcp'],
  ['mongo', 'tcp'],
  ['mysql', 'tcp'],
  ['redis', 'tcp'],
  ['udp', 'tcp'],
]);

/** Kubernetes' standard `appProtocol` values (they never appear as port names). */
const KUBERNETES_APP_PROTOCOLS: ReadonlyMap<string, PortProtocol> = new Map([
  ['kubernetes.io/h2c', 'http2'],
  ['kubernetes.io/ws', 'http'],
  ['kubernetes.io/wss', 'tcp'],
]);

/** What decides a port's protocol besides the port itself. */
export interface PortProtocolOptions {
  /**
   * Service ports an operator declared opaque (e.g. from a meshlet annotation or an agent
   * flag): never sniffed, whatever the name or `appProtocol` say.
   */
  readonly opaquePorts?: ReadonlySet<number>;
}

/** The protocol word of a name or value: the whole of it, or what precedes the first `-`. */
function protocolWord(value: string): PortProtocol | undefined {
  const v = value.toLowerCase();
  const whole = PROTOCOL_WORDS.get(v);
  if (whole !== undefined) return whole;
  // `grpc-web-foo` is gRPC-Web, not gRPC with suffix `web-foo` (Istio checks it first too).
  if (v.startsWith('grpc-web-')) return 'http';
  const dash = v.indexOf('-');
  return dash > 0 ? PROTOCOL_WORDS.get(v.slice(0, dash)) : undefined;
}

/** The protocol a Service port declares, or `detect` when it declares none that meshlet knows. */
export function portProtocol(port: Pick<ServicePort, 'port' | 'name' | 'appProtocol'>, options: PortProtocolOptions = {}): PortProtocol {
  if (options.opaquePorts?.has(port.port) === true) return 'tcp';
  if (port.appProtocol !== undefined) {
    const app = port.appProtocol.toLowerCase();
    const declared = KUBERNETES_APP_PROTOCOLS.get(app) ?? protocolWord(app);
    if (declared !== undefined) return declared;
  }
  if (port.name !== undefined) {
    const declared = protocolWord(port.name);
    if (declared !== undefined) return declared;
  }
  return 'detect';
}
