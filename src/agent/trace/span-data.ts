/**
 * A finished request as an OpenTelemetry span, pure: the OpenTelemetry HTTP semantic
 * conventions (`http.request.method`, `url.path`, `http.route`, `http.response.status_code`,
 * `server.address`, `network.protocol.version`, `error.type`), meshlet's own attributes
 * (`meshlet.*`: the peers, the Service, retries, response flags), and the resource of the
 * workload the span is for (`service.name` is its canonical service).
 */
import type { WorkloadInfo } from '../../mesh/types.js';
import type { RequestRecord } from '../http/exchange.js';
import { requestFlags, requestOk } from '../http/request-log.js';
import { peerLabels } from '../proxy/istio-labels.js';
import type { SpanContext } from './trace-context.js';

/** OTLP `Span.SpanKind`. */
export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;

/** An attribute value: OTLP's string, int or bool. */
export type AttributeValue = string | number | boolean;

/** The resource a span belongs to: the workload it was recorded for, on this node. */
export interface SpanResource {
  /** Grouping key (the attributes joined). */
  readonly key: string;
  readonly attributes: ReadonlyArray<readonly [string, AttributeValue]>;
}

/** One finished span, ready to encode. */
export interface SpanData {
  readonly context: SpanContext;
  readonly name: string;
  readonly kind: typeof SPAN_KIND_SERVER | typeof SPAN_KIND_CLIENT;
  /** Unix epoch, nanoseconds. */
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: ReadonlyArray<readonly [string, AttributeValue]>;
  /** Span status ERROR, with this message; undefined: UNSET. */
  readonly error?: string;
  readonly resource: SpanResource;
}

/** Characters kept of a path or authority in an attribute (as the access log keeps). */
const MAX_ATTRIBUTE_CHARS = 1024;

function cap(s: string): string {
  return s.length <= MAX_ATTRIBUTE_CHARS ? s : s.slice(0, MAX_ATTRIBUTE_CHARS);
}

/** `network.protocol.version` of a request's HTTP version. */
function protocolVersion(proto: RequestRecord['proto']): string {
  return proto === 'HTTP/2' ? '2' : proto === 'HTTP/1.0' ? '1.0' : '1.1';
}

/** Host and port of an authority (`host`, `host:port`, `[v6]:port`). */
function splitAuthority(authority: string): { host: string; port?: number } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(authority);
  if (m === null) return { host: authority };
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  return m[2] === undefined ? { host } : { host, port: Number(m[2]) };
}

/** Microseconds since the epoch of a `performance.now()` reading, as nanoseconds. */
export function epochNs(perfMs: number): bigint {
  return BigInt(Math.round((performance.timeOrigin + perfMs) * 1000)) * 1000n;
}

/** The resource of the workload `uid` (`service.name` its canonical service, `unknown_service` when unknown). */
export function resourceOf(uid: string | undefined, info: WorkloadInfo | undefined, node: string): SpanResource {
  const peer = peerLabels(uid, undefined, info);
  const service = uid === undefined ? 'unknown_service:meshlet' : peer.canonicalService;
  const attributes: Array<readonly [string, AttributeValue]> = [['service.name', service]];
  if (uid !== undefined) attributes.push(['k8s.namespace.name', peer.namespace]);
  if (info?.kind === 'Pod') attributes.push(['k8s.pod.name', info.name]);
  if (node !== '') attributes.push(['k8s.node.name', node]);
  if (peer.canonicalRevision !== 'unknown') attributes.push(['service.version', peer.canonicalRevision]);
  return { key: attributes.map((a) => `${a[0]}=${String(a[1])}`).join('\n'), attributes };
}

/**
 * The span of a finished request (its `trace` set). The source agent's is a CLIENT span, the
 * destination agent's a SERVER span; `resource` is the workload's on whose behalf it was made.
 */
export function spanOf(rec: RequestRecord, context: SpanContext, resource: SpanResource): SpanData {
  const q = rec.path.indexOf('?');
  const path = cap(q < 0 ? rec.path : rec.path.slice(0, q));
  const server = splitAuthority(cap(rec.authority));
  const attrs: Array<readonly [string, AttributeValue]> = [
    ['http.request.method', rec.method],
    ['url.path', path],
    ['url.scheme', 'http'],
    ['server.address', server.host],
    ['network.protocol.version', protocolVersion(rec.proto)],
  ];
  if (server.port !== undefined) attrs.push(['server.port', server.port]);
  if (rec.route !== undefined) attrs.push(['http.route', rec.route]);
  if (rec.status > 0) attrs.push(['http.response.status_code', rec.status]);
  if (rec.grpcStatus !== undefined) attrs.push(['rpc.grpc.status_code', rec.grpcStatus]);
  const ok = requestOk(rec);
  if (!ok) attrs.push(['error.type', rec.failure ?? (rec.status === 0 ? 'no_response' : String(rec.status))]);
  peerAttributes(attrs, 'source', rec.sourceWorkload, rec.sourceIdentity);
  peerAttributes(attrs, 'destination', rec.destinationWorkload, rec.destinationIdentity);
  if (rec.service !== undefined) attrs.push(['meshlet.service', rec.service]);
  if (rec.upstream !== undefined) attrs.push(['meshlet.upstream', rec.upstream]);
  attrs.push(['meshlet.retries', Math.max(0, (rec.attempts ?? 1) - 1)]);
  attrs.push(['meshlet.response_flags', requestFlags(rec)]);
  attrs.push(['meshlet.security_policy', rec.securityPolicy]);
  if (rec.requestId !== undefined) attrs.push(['meshlet.request_id', cap(rec.requestId)]);
  const startNs = epochNs(rec.startedAt);
  const base = {
    context,
    name: rec.route === undefined ? rec.method : `${rec.method} ${rec.route}`,
    kind: rec.reporter === 'source' ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER,
    startNs,
    endNs: startNs + BigInt(Math.max(0, Math.round(rec.durationMs * 1e6))),
    attributes: attrs,
    resource,
  } as const;
  return ok ? base : { ...base, error: rec.failure ?? `HTTP ${rec.status}` };
}

/** `meshlet.<side>.workload`, `.namespace`, `.principal` of a peer, when known. */
function peerAttributes(attrs: Array<readonly [string, AttributeValue]>, side: 'source' | 'destination', uid: string | undefined, identity: string | undefined): void {
  if (uid !== undefined) {
    const p = peerLabels(uid, identity, undefined);
    attrs.push([`meshlet.${side}.workload`, p.workload], [`meshlet.${side}.namespace`, p.namespace]);
  }
  if (identity !== undefined) attrs.push([`meshlet.${side}.principal`, identity]);
}
