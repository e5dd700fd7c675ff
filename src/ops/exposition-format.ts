/**
 * The two exposition formats a metrics port speaks: Prometheus text (0.0.4, the default) and
 * OpenMetrics 1.0.0 when the scraper asks for it in `Accept` (Prometheus does by default, and
 * needs it for exemplars). Pure, apart from prom-client's formatter.
 *
 * Why not `registry.setContentType(OPENMETRICS)` on the served registry: prom-client's
 * `metrics()` in that mode renames every counter of the registry in place (it strips `_total`),
 * so a later plain-text scrape would lose the suffix, and two scrapes of different formats at
 * once would race. The OpenMetrics text is made instead from a copy of the registry's JSON
 * (`getMetricsAsJSON()`, the workers' sums included) in a throwaway registry of that type.
 */
import type { MetricObjectWithValues, MetricValue, Metric, OpenMetricsContentType } from 'prom-client';
import { Registry } from './prom.js';

/** An exposition format. */
export type ExpositionFormat = 'text' | 'openmetrics';

/** OpenMetrics' media type; the text format's is `Registry.PROMETHEUS_CONTENT_TYPE`. */
const OPENMETRICS = 'application/openmetrics-text';

/** The quality a client gives a media range (`q`, default 1; a bad one reads as 0). */
function quality(params: readonly string[]): number {
  for (const p of params) {
    const [k, v] = p.split('=').map((x) => x.trim());
    if (k?.toLowerCase() !== 'q') continue;
    const q = Number(v);
    return Number.isFinite(q) && q >= 0 && q <= 1 ? q : 0;
  }
  return 1;
}

/**
 * The format to answer with, from an `Accept` header: OpenMetrics when the client asks for
 * `application/openmetrics-text` with a quality at least that of anything the text format
 * would match (`text/plain`, `text/*`, `*\/*`); otherwise (no header, `*\/*`, text only) text.
 */
export function expositionFormat(accept: string | undefined): ExpositionFormat {
  if (accept === undefined) return 'text';
  let open = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';');
    const media = type.trim().toLowerCase();
    const q = quality(params);
    if (media === OPENMETRICS) open = Math.max(open, q);
    else if (media === 'text/plain' || media === 'text/*' || media === '*/*') text = Math.max(text, q);
  }
  return open > 0 && open >= text ? 'openmetrics' : 'text';
}

/** One registry's metrics as `getMetricsAsJSON()` gives them. */
type MetricsJson = ReadonlyArray<MetricObjectWithValues<MetricValue<string>>>;

/**
 * The OpenMetrics text of some metrics: counters' families named without `_total`, their
 * samples with it, exemplars where the values carry them, `# EOF` at the end.
 */
export async function openMetricsText(metrics: MetricsJson): Promise<string> {
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  for (const m of metrics) {
    // OpenMetrics names a counter's family without the suffix its samples carry. (prom-client's
    // types declare `type` a numeric enum; at run time it is the name, 'counter'.)
    const name = (m.type as unknown as string) === 'counter' ? m.name.replace(/_total$/, '') : m.name;
    const copy = { ...m, name };
    // The registry only calls name, type and get() (AggregatorRegistry registers plain objects too).
    registry.registerMetric({ name, type: m.type, help: m.help, get: () => Promise.resolve(copy) } as unknown as Metric);
  }
  return registry.metrics();
}

/** The content type of a format. */
export function expositionContentType(format: ExpositionFormat): string {
  return format === 'openmetrics' ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE;
}
