/**
 * Telemetry objects on the snapshot wire (`cluster.telemetry`): each as `{namespace, name,
 * creationTimestamp, tracing}`, `tracing` in its spec form, read back by the reader that checked
 * the file (`objects/telemetry.ts`), so a bad collector URL or percentage from a broken
 * controller is refused naming the field (`cluster.telemetry[0].tracing.collector`).
 */
import { readTracing, type TelemetryData } from '../objects/telemetry.js';
import { type FieldPath, formatPath, formatValue, isFields } from '../validate/values.js';
import { fieldPath, listField, stringField, type WireObject, type WireProblems } from './checks.js';

/** `telemetry` as it travels. */
export function telemetryToWire(list: readonly TelemetryData[]): Record<string, unknown>[] {
  return list.map((t) => ({
    namespace: t.namespace,
    name: t.name,
    creationTimestamp: t.creationTimestamp,
    // `protocol` only when not the default: an agent older than the field reads the rest as before.
    ...(t.tracing === undefined
      ? {}
      : { tracing: { collector: t.tracing.collector, ...(t.tracing.protocol === undefined ? {} : { protocol: t.tracing.protocol }), samplingPercentage: t.tracing.samplingPercentage } }),
  }));
}

const nonEmpty = (v: string): string | undefined => (v === '' || v.length > 253 ? 'must be a name of 1 to 253 characters' : undefined);

/** `cluster.telemetry`; absent (older controllers): none. */
export function decodeTelemetry(p: WireProblems, view: WireObject): TelemetryData[] {
  if (view['telemetry'] === undefined) return [];
  const out: TelemetryData[] = [];
  listField(p, view, 'telemetry', 'cluster').forEach((value, i) => {
    const path = `cluster.telemetry[${i}]`;
    if (!isFields(value)) {
      p.add(path, `must be an object {namespace, name, creationTimestamp, tracing}, got ${formatValue(value)}`);
      return;
    }
    const namespace = stringField(p, value, 'namespace', path, nonEmpty);
    const name = stringField(p, value, 'name', path, nonEmpty);
    const ts = value['creationTimestamp'];
    const creationTimestamp = typeof ts === 'number' && Number.isFinite(ts) && ts >= 0 ? ts : 0;
    if (ts !== undefined && creationTimestamp !== ts) p.add(fieldPath(path, 'creationTimestamp'), `must be milliseconds since the epoch, got ${formatValue(ts)}`);
    const raw = value['tracing'];
    const base = { namespace, name, creationTimestamp };
    if (raw === undefined) {
      out.push(base);
      return;
    }
    const at = fieldPath(path, 'tracing');
    if (!isFields(raw)) {
      p.add(at, `must be an object, got ${formatValue(raw)}`);
      return;
    }
    const sink = { report: (fp: FieldPath, message: string) => p.add(fp.length === 0 ? at : `${at}.${formatPath(fp)}`, message) };
    out.push({ ...base, tracing: readTracing(sink, raw, []) });
  });
  return out;
}
