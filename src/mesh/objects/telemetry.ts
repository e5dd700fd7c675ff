/**
 * `meshlet.io/v1alpha1 Telemetry`: where the agents send trace spans and how many new traces
 * they start, like Istio's Telemetry API. One in the mesh's root namespace (`meshlet-system`) is
 * the mesh-wide setting; one in another namespace replaces it for that namespace's workloads.
 *
 * ```yaml
 * apiVersion: meshlet.io/v1alpha1
 * kind: Telemetry
 * metadata: {name: mesh-default, namespace: meshlet-system}
 * spec:
 *   tracing:
 *     collector: http://otel-collector.observability:4318   # OTLP/HTTP; /v1/traces when no path
 *     protocol: http/protobuf                                # or grpc (then :4317, no path)
 *     samplingPercentage: 1.0                                # new traces started, 0-100 (default 1)
 * ```
 */
import type { Reporter } from './report.js';
import { checkFields, optMap, optString, requireField } from '../validate/readers.js';
import type { ProblemSink } from '../validate/problems.js';
import { type FieldPath, type Fields, formatValue } from '../validate/values.js';
import { MESHLET_OBJECT_FIELDS } from './fields.js';
import { readCreationTimestamp, readMeta, SUBDOMAIN_NAME } from './meta.js';
import type { OtlpProtocol, SourceRef, TelemetryData, TelemetryObject, TracingSettings } from '../types.js';

export type { OtlpProtocol, TelemetryData, TelemetryObject, TracingSettings };

/** The OTLP protocols an agent exports with (`spec.tracing.protocol`). */
export const OTLP_PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'grpc'];

/** Istio's default `randomSamplingPercentage`: 1% of new traces. */
export const DEFAULT_SAMPLING_PERCENTAGE = 1;

const SPEC_FIELDS = ['tracing'] as const;
const TRACING_FIELDS = ['collector', 'protocol', 'samplingPercentage'] as const;

/**
 * `spec.tracing.collector`: an absolute http(s) URL with a host and no query or credentials;
 * for gRPC also no path (the service's method is the path).
 */
function collectorProblem(value: string, protocol: OtlpProtocol): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be an http:// or https:// URL such as "http://otel-collector.observability:4318", got ${formatValue(value)}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must use http or https (also for OTLP/gRPC: http for plaintext, https for TLS), got ${formatValue(url.protocol.replace(/:$/, ''))}`;
  if (url.hostname === '') return `must name a host, got ${formatValue(value)}`;
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  if (url.search !== '' || url.hash !== '') return `must have no query or fragment, got ${formatValue(value)}`;
  if (protocol === 'grpc' && url.pathname !== '/' && url.pathname !== '') return `must have no path with protocol grpc (OTLP/gRPC calls its own method), got ${formatValue(url.pathname)}`;
  return undefined;
}

/**
 * Reads `tracing` (at `path`): the collector and the sampling percentage, each checked. Shared
 * by the file reader and the snapshot decoder, so a controller cannot send what a file may not hold.
 */
export function readTracing(r: ProblemSink, tracing: Fields, path: FieldPath): TracingSettings {
  checkFields(r, tracing, path, TRACING_FIELDS);
  requireField(r, tracing, 'collector', path);
  const rawProtocol = optString(r, tracing, 'protocol', path);
  let protocol: OtlpProtocol | undefined;
  if (rawProtocol !== undefined) {
    if ((OTLP_PROTOCOLS as readonly string[]).includes(rawProtocol)) protocol = rawProtocol as OtlpProtocol;
    else r.report([...path, 'protocol'], `must be one of ${OTLP_PROTOCOLS.map((p) => `"${p}"`).join(', ')}, got ${formatValue(rawProtocol)}`);
  }
  const collector = optString(r, tracing, 'collector', path) ?? '';
  if (collector !== '') {
    const problem = collectorProblem(collector, protocol ?? 'http/protobuf');
    if (problem !== undefined) r.report([...path, 'collector'], problem);
  } else if (tracing['collector'] !== undefined) {
    r.report([...path, 'collector'], 'must not be empty');
  }
  const raw = tracing['samplingPercentage'];
  let samplingPercentage = DEFAULT_SAMPLING_PERCENTAGE;
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'number' || !Number.isFinite(raw) || raw < 0 || raw > 100) r.report([...path, 'samplingPercentage'], `must be a number from 0 to 100, got ${formatValue(raw)}`);
    else samplingPercentage = raw;
  }
  // The default is left out, so the settings (and the snapshot) of a file without the field are as before.
  return { collector, ...(protocol === undefined || protocol === 'http/protobuf' ? {} : { protocol }), samplingPercentage };
}

/** Validates a `meshlet.io/v1alpha1 Telemetry` document and converts it. */
export function telemetryFrom(r: Reporter, obj: Fields, source: SourceRef): TelemetryObject {
  const meta = readMeta(r, obj, 'Telemetry', true, SUBDOMAIN_NAME);
  checkFields(r, obj, [], MESHLET_OBJECT_FIELDS);
  const creationTimestamp = readCreationTimestamp(r, obj);
  requireField(r, obj, 'spec', []);
  const spec = optMap(r, obj, 'spec', []) ?? {};
  checkFields(r, spec, ['spec'], SPEC_FIELDS);
  const base: TelemetryObject = { kind: 'Telemetry', ...meta, source, creationTimestamp };
  const tracing = optMap(r, spec, 'tracing', ['spec']);
  return tracing === undefined ? base : { ...base, tracing: readTracing(r, tracing, ['spec', 'tracing']) };
}

/** The snapshot's part of a Telemetry object. */
export function telemetryData(o: TelemetryObject): TelemetryData {
  const base = { namespace: o.namespace, name: o.name, creationTimestamp: o.creationTimestamp };
  return o.tracing === undefined ? base : { ...base, tracing: o.tracing };
}

/**
 * The tracing settings of `namespace`: its own Telemetry's, else the root namespace's; with
 * several in one namespace the oldest wins (then the first by name), as with Istio's.
 * Undefined: no tracing.
 */
export function tracingFor(all: readonly TelemetryData[], namespace: string, rootNamespace: string): TracingSettings | undefined {
  const pick = (ns: string): TelemetryData | undefined => {
    let best: TelemetryData | undefined;
    for (const t of all) {
      if (t.namespace !== ns) continue;
      if (best === undefined || t.creationTimestamp < best.creationTimestamp || (t.creationTimestamp === best.creationTimestamp && t.name < best.name)) best = t;
    }
    return best;
  };
  const own = pick(namespace);
  if (own !== undefined) return own.tracing;
  return pick(rootNamespace)?.tracing;
}
