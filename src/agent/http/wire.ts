/**
 * What crosses the tunnel for L7, and the header hygiene every hop applies.
 *
 * An application request becomes **one HTTP/2 request on the pooled agent-to-agent mTLS
 * session** (the one CONNECT streams use): `:method`, `:path`, `:authority` are the
 * application's, `:scheme` is `http`, and four meshlet headers ride along:
 *
 * - `meshlet-dst: <address>:<port>`: the endpoint the source agent picked (checked by the
 *   destination agent exactly as a CONNECT authority is);
 * - `meshlet-proto: HTTP/1.0 | HTTP/1.1 | HTTP/2`: what the application spoke, restored toward
 *   the workload when the port does not say otherwise;
 * - `forwarded: for="<address:port>"`: the application's address, as on CONNECT;
 * - `meshlet-service: <namespace>/<name>`: the Service the request was routed to (the backend
 *   after a route's weighted pick), for the destination's telemetry (`destination_service`)
 *   only, never for policy; a value that is not a namespace/name pair is ignored and the
 *   destination agent derives the Service from the endpoint.
 *
 * The response comes back as the HTTP/2 response of that request, trailers as HTTP/2 trailers;
 * a response the destination agent made itself (a denial, a failed connect) carries
 * `meshlet-error: <ErrorKind>`. The three request headers are removed before the workload sees
 * the request, and `meshlet-error` before the application sees the response. A plain CONNECT on
 * the same session is still an opaque L4 tunnel.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderMap } from './exchange.js';

export const DST_HEADER = 'meshlet-dst';
export const PROTO_HEADER = 'meshlet-proto';
export const ERROR_HEADER = 'meshlet-error';
export const FORWARDED_HEADER = 'forwarded';
export const SERVICE_HEADER = 'meshlet-service';
/**
 * On the answer to an extended CONNECT (an HTTP/1.1 Upgrade carried as RFC 8441 CONNECT with
 * `:protocol`): `meshlet-status: 101` says the workload switched protocols (HTTP/2 has no 101:
 * the answer is 200 and the stream carries the upgraded bytes from then on).
 */
export const STATUS_HEADER = 'meshlet-status';

/**
 * Hop-by-hop headers (RFC 9110 7.6.1, plus the legacy ones every proxy drops): never forwarded.
 * `te` is special: `te: trailers` is kept (gRPC requires it), any other value is dropped.
 * `host` is not hop-by-hop but travels as `:authority`.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'host',
]);

/** Headers only meshlet sets on a hop; stripped from what applications send. */
export const MESHLET_HEADERS: ReadonlySet<string> = new Set([DST_HEADER, PROTO_HEADER, ERROR_HEADER, STATUS_HEADER, SERVICE_HEADER]);

/**
 * The end-to-end headers of an incoming message (Node's `IncomingHttpHeaders`, HTTP/1 or
 * HTTP/2): pseudo-headers, hop-by-hop headers, headers named in `Connection`, and meshlet's own
 * headers removed; `te` kept only as `trailers`. `keep` names meshlet headers to keep (the
 * destination agent reads `meshlet-dst` before stripping).
 */
export function endToEnd(headers: IncomingHttpHeaders, keep?: ReadonlySet<string>): HeaderMap {
  const out: HeaderMap = {};
  const connection = headers['connection'];
  const named = connection === undefined ? undefined : new Set(String(connection).toLowerCase().split(',').map((s) => s.trim()));
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    if (HOP_BY_HOP.has(name) || named?.has(name) === true) continue;
    if (MESHLET_HEADERS.has(name) && keep?.has(name) !== true) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (name === 'te') {
      if (String(value).toLowerCase().split(',').some((t) => t.trim() === 'trailers')) out['te'] = 'trailers';
      continue;
    }
    out[name] = value;
  }
  return out;
}

/** `HTTP/1.0`, `HTTP/1.1` or `HTTP/2` from a `meshlet-proto` value; anything else is HTTP/1.1. */
export function protoOf(value: string | string[] | undefined): 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2' {
  return value === 'HTTP/2' || value === 'HTTP/1.0' ? value : 'HTTP/1.1';
}
