/**
 * Every fuzz target by name. Each is loaded on demand, so a worker thread imports only the
 * modules of the target it runs.
 */
import type { FuzzTarget } from '../fuzz-property.js';

/** A target's loader and its share of a full run. */
export interface TargetEntry {
  /**
   * Generated inputs of a full run (the corpus comes on top). Sized so a full run passes
   * 1,000,000 inputs in all and each target fits its default time budget on a busy machine:
   * cheap parsers get more inputs than ones that gzip, sign or build cluster states per input.
   */
  readonly fullRuns: number;
  readonly load: () => Promise<FuzzTarget>;
}

/** Target names in campaign order, with their loaders. */
export const TARGETS: Readonly<Record<string, TargetEntry>> = {
  'mesh-objects': { fullRuns: 80_000, load: async () => (await import('./mesh-objects.js')).meshObjectsTarget() },
  'snapshot-wire': { fullRuns: 60_000, load: async () => (await import('./snapshot-wire.js')).snapshotWireTarget() },
  'agent-api': { fullRuns: 100_000, load: async () => (await import('./agent-api.js')).agentApiTarget() },
  'tunnel-headers': { fullRuns: 500_000, load: async () => (await import('./tunnel-headers.js')).tunnelHeadersTarget() },
  'iptables-save': { fullRuns: 150_000, load: async () => (await import('./iptables-save.js')).iptablesSaveTarget() },
  'worker-ipc': { fullRuns: 300_000, load: async () => (await import('./worker-ipc.js')).workerIpcTarget() },
};

/** The names of every target. */
export const TARGET_NAMES: readonly string[] = Object.keys(TARGETS);

/** Loads one target; throws on an unknown name. */
export async function loadTarget(name: string): Promise<FuzzTarget> {
  return targetEntry(name).load();
}

/** The entry of one target; throws on an unknown name. */
export function targetEntry(name: string): TargetEntry {
  const entry = TARGETS[name];
  if (entry === undefined) throw new Error(`unknown fuzz target ${JSON.stringify(name)}; targets: ${TARGET_NAMES.join(', ')}`);
  return entry;
}
