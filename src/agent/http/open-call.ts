/**
 * How the source side opens one call to an endpoint it picked, whatever it carries (a try of a
 * request, a mirror's copy): a stream on the pooled mTLS tunnel to the endpoint's node, the
 * destination side in-process for a meshed endpoint on this node, or the plaintext pool for an
 * endpoint that is not meshed. Only the tunnel may have to wait (a session's handshake), so
 * only it answers a promise; its failure is an {@link UpstreamError} that says nothing was sent.
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import { hostPort } from '../../mesh/address.js';
import type { ErrorKind } from '../policy/respond.js';
import { UpstreamError, type HeaderMap, type RequestHead, type UpstreamCall } from './exchange.js';
import type { ExchangeCalls, HttpConnection, UpgradeTarget } from './outbound-types.js';
import { streamCall } from './stream-call.js';
import { DST_HEADER, FORWARDED_HEADER, PROTO_HEADER, SERVICE_HEADER } from './wire.js';

/** An endpoint a call can go to (what `WorkloadIndex.endpointTarget` answers for a usable endpoint). */
export type CallTarget = UpgradeTarget;

/** True when a call to `target` goes through a tunnel (and may wait for a session). */
export function viaTunnel(target: CallTarget): boolean {
  return target.kind === 'meshed' && !target.local;
}

/**
 * Opens a call to `target` for a request of `conn` to Service `serviceKey`, with `head`;
 * `endStream` when the request has no body. A call whose caller no longer wants it when the
 * promise resolves must be aborted (`call.abort()` cancels the tunnel stream).
 */
export function openCall(calls: Pick<ExchangeCalls, 'tunnel' | 'local' | 'plaintext'>, conn: Pick<HttpConnection, 'source' | 'sourceAddress'>, serviceKey: string, target: CallTarget, head: RequestHead, endStream: boolean): UpstreamCall | Promise<UpstreamCall> {
  const to = { address: target.address, port: target.port };
  if (target.kind === 'plaintext') return calls.plaintext(to, head, { endStream });
  if (target.local) {
    const source = { identity: conn.source.identity, workload: conn.source.uid, address: conn.sourceAddress, service: serviceKey };
    return calls.local(source, to, head, { endStream });
  }
  const headers = tunnelRequestHeaders(head, target.address, target.port, conn.sourceAddress, serviceKey);
  const tunnelTarget = { nodeAddress: target.workload.nodeAddress, identity: target.workload.identity, address: target.address, port: target.port };
  return calls.tunnel(conn.source.identity, tunnelTarget, headers, endStream).then(streamCall, (err: Error) => {
    const kind: ErrorKind = err instanceof UpstreamError ? err.kind : 'tunnel_failed';
    throw new UpstreamError(kind, err.message, true);
  });
}

/** The HTTP/2 request head of a call on the tunnel (see `wire.ts`). */
export function tunnelRequestHeaders(head: RequestHead, address: string, port: number, sourceAddress: string, serviceKey: string): OutgoingHttpHeaders {
  // Built by assignment, pseudo-headers first: an object literal spreading the request's headers
  // beside computed keys left V8 a dictionary-mode object, and 3% of the source agent's CPU here
  // under load (a CPU profile of `npm run bench -- --only l7-resilience --profile`).
  const out: OutgoingHttpHeaders = {
    ':method': head.method,
    ':path': head.path,
    ':authority': head.authority,
    ':scheme': 'http',
  };
  const h = head.headers;
  for (const name in h) out[name] = h[name];
  out[DST_HEADER] = hostPort(address, port);
  out[PROTO_HEADER] = head.proto;
  out[FORWARDED_HEADER] = `for="${sourceAddress}"`;
  out[SERVICE_HEADER] = serviceKey;
  return out;
}

/** Route-match headers (possibly modified) as a HeaderMap for the call. */
export function plainHeaders(headers: Readonly<Record<string, string | readonly string[] | undefined>>): HeaderMap {
  const out: HeaderMap = {};
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined) continue;
    out[name] = typeof v === 'string' ? v : [...v];
  }
  return out;
}
