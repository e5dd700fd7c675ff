/**
 * The `l7-tracing` scenario's configurations: tracing off (no Telemetry object), and a Telemetry
 * object in the bench's namespace turning tracing on at 100% and at 1% (Istio's default)
 * sampling, exporting by OTLP/HTTP to the sink in the lab. Each traced load gets a collector
 * path of its own, so the sink counts each load's spans apart even when the last batch of one
 * arrives late. Pure: returns YAML text the scenario writes into the lab's `config/`.
 *
 * @module
 */

import { stringify } from 'yaml';

/** The scenario's id, as `--only` takes it. */
export const TRACING_SCENARIO_ID = 'l7-tracing';

/** The file the scenario writes into the lab's `config/` (empty once a round is over). */
export const TRACING_CONFIG_FILE = 'bench-tracing.yaml';

/** The Telemetry object's name. */
export const TRACING_TELEMETRY = 'bench-tracing';

/** One configuration of a round. */
export interface TracingVariant {
  /** The suffix of its value keys (`rpsOff`, `rpsOn100`, ...). */
  readonly key: 'Off' | 'On100' | 'On1';
  readonly label: string;
  /** Sampling of new traces, percent; undefined: tracing off. */
  readonly samplingPercentage: number | undefined;
}

export const TRACING_OFF: TracingVariant = { key: 'Off', label: 'tracing off', samplingPercentage: undefined };
export const TRACING_ON_100: TracingVariant = { key: 'On100', label: 'tracing on, 100% sampled', samplingPercentage: 100 };
export const TRACING_ON_1: TracingVariant = { key: 'On1', label: 'tracing on, 1% sampled', samplingPercentage: 1 };

/** Every configuration, in the order of odd rounds (even rounds run them backwards). */
export const TRACING_VARIANTS: readonly TracingVariant[] = [TRACING_OFF, TRACING_ON_100, TRACING_ON_1];

/** The collector path of the `run`-th traced load (the sink counts per path). */
export function collectorPath(run: number): string {
  return `/bench-tracing/run-${run}`;
}

/**
 * The Telemetry object turning tracing on for `namespace` (the bench's, where both the client
 * and the server workloads are), exporting to `collector`.
 */
export function telemetryYaml(namespace: string, collector: string, samplingPercentage: number): string {
  const telemetry = {
    apiVersion: 'meshlet.io/v1alpha1',
    kind: 'Telemetry',
    metadata: { name: TRACING_TELEMETRY, namespace },
    spec: { tracing: { collector, samplingPercentage } },
  };
  return stringify(telemetry, { lineWidth: 0 });
}
