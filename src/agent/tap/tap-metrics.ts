/**
 * The tap's own metrics, on the agent's registry: how many streams are open, how many were
 * refused at the cap or cut off for reading too slowly, and how many events never reached a
 * subscriber (dropped at the source's per-second cap, or queued for a reader that was cut off).
 */
import { Counter, Gauge, type Registry } from '../../ops/prom.js';

/** Why events were dropped: at the source (per-second cap, full worker channel) or at a cut-off subscriber. */
export type TapDropReason = 'source_rate' | 'slow_reader';

/** The tap's counters. */
export interface TapMetrics {
  readonly subscribers: Gauge;
  readonly refused: Counter;
  readonly disconnected: Counter<'reason'>;
  readonly dropped: Counter<'reason'>;
}

function existing<T>(registry: Registry, name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined;
}

/** The tap's metrics on `registry`, made on first use (a registry has one admin API). */
export function tapMetrics(registry: Registry): TapMetrics {
  return {
    subscribers:
      existing<Gauge>(registry, 'meshlet_tap_subscribers') ??
      new Gauge({ name: 'meshlet_tap_subscribers', help: 'Open tap streams (GET /tap, meshlet tap, meshlet top)', registers: [registry] }),
    refused:
      existing<Counter>(registry, 'meshlet_tap_refused_total') ??
      new Counter({ name: 'meshlet_tap_refused_total', help: 'Tap streams refused (429) because the cap of concurrent streams was reached', registers: [registry] }),
    disconnected:
      existing<Counter<'reason'>>(registry, 'meshlet_tap_disconnected_total') ??
      new Counter({ name: 'meshlet_tap_disconnected_total', help: 'Tap streams the agent ended itself, by reason (slow_reader: the client did not keep up)', labelNames: ['reason'], registers: [registry] }),
    dropped:
      existing<Counter<'reason'>>(registry, 'meshlet_tap_events_dropped_total') ??
      new Counter({ name: 'meshlet_tap_events_dropped_total', help: 'Tap events that reached no subscriber, by reason (source_rate: over the per-process cap per second; slow_reader: queued for a stream that was cut off)', labelNames: ['reason'], registers: [registry] }),
  };
}
