/**
 * Checks PromQL the way Prometheus would before evaluating it, for the install tests: the
 * expression parses with Prometheus' own grammar (@prometheus-io/lezer-promql, the parser of
 * Prometheus' web UI), range functions get a range, and every metric it names is one that the
 * agent or the controller exports. Grafana's template variables are substituted first.
 */
import { parser } from '@prometheus-io/lezer-promql';
import { AgentMetrics } from '../../../src/agent/admin/metrics.js';
import { ControllerMetrics } from '../../../src/controller/metrics.js';

/** What one expression holds. */
export interface PromqlCheck {
  /** Syntax errors and misuse, each with its position; empty when Prometheus would accept it. */
  readonly problems: string[];
  /** Metric names of its vector selectors, in order. */
  readonly metrics: string[];
}

/** Series Prometheus makes itself for every target (not in any registry). */
export const PROMETHEUS_SERIES: readonly string[] = ['up'];

/** Functions that need a range vector (`[5m]`) as their first argument. */
const RANGE_FUNCTIONS = new Set([
  'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'changes', 'resets', 'predict_linear', 'holt_winters',
  'avg_over_time', 'min_over_time', 'max_over_time', 'sum_over_time', 'count_over_time', 'last_over_time',
  'quantile_over_time', 'stddev_over_time', 'stdvar_over_time', 'present_over_time', 'absent_over_time',
]);

/**
 * Grafana's built-in interval variables become a fixed range; each dashboard variable becomes
 * `.*` (what "All" sends). Anything else starting with `$` is a problem of the caller's.
 */
export function substituteGrafana(expr: string, variables: readonly string[]): string {
  let out = expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m').replace(/\$\{__(rate_interval|interval|range)\}/g, '5m');
  for (const name of variables) out = out.replace(new RegExp(`\\$\\{${name}\\}|\\$${name}\\b`, 'g'), '.*');
  return out;
}

/** Parses `expr`; Grafana's `label_values(expr, label)` is checked as its inner expression. */
export function checkPromql(expr: string): PromqlCheck {
  const problems: string[] = [];
  if (expr.includes('$')) problems.push(`a template variable is left: ${expr.slice(expr.indexOf('$'), expr.indexOf('$') + 24)}`);
  const labelValues = /^\s*label_values\(\s*([\s\S]+),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$/.exec(expr);
  const text = labelValues?.[1] ?? expr;
  if (/^\s*label_values\(/.test(expr) && labelValues === null) return { problems: [...problems, 'label_values() needs a metric selector and a label'], metrics: [] };
  if (text.trim() === '') return { problems: [...problems, 'empty expression'], metrics: [] };
  const metrics: string[] = [];
  parser.parse(text).iterate({
    enter(node) {
      const at = `at ${node.from}: ${JSON.stringify(text.slice(Math.max(0, node.from - 10), node.to + 10))}`;
      if (node.type.isError) problems.push(`syntax error ${at}`);
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') metrics.push(text.slice(node.from, node.to));
      if (node.name === 'LabelName' && text.slice(node.from, node.to) === '__name__') problems.push(`a __name__ matcher hides the metric name from this check ${at}`);
      if (node.name === 'FunctionCall') {
        const name = node.node.getChild('FunctionIdentifier');
        const fn = name === null ? '' : text.slice(name.from, name.to);
        const first = node.node.getChild('FunctionCallBody')?.firstChild; // the first argument
        const isRange = first?.name === 'MatrixSelector' || first?.name === 'SubqueryExpr' || (first?.name === 'OffsetExpr' && first.firstChild?.name === 'MatrixSelector');
        if (RANGE_FUNCTIONS.has(fn) && !isRange) problems.push(`${fn}() needs a range vector ${at}`);
      }
    },
  });
  return { problems, metrics };
}

/** Every series name the agent and the controller export (a histogram's `_bucket`, `_sum`, `_count`), and `up`. */
export async function exportedSeries(): Promise<Set<string>> {
  const names = new Set<string>(PROMETHEUS_SERIES);
  for (const registry of [new AgentMetrics().registry, new ControllerMetrics().registry]) {
    for (const m of await registry.getMetricsAsJSON()) {
      // A histogram has no series under its family name, only these three.
      if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${m.name}${s}`);
      else names.add(m.name);
    }
  }
  return names;
}
