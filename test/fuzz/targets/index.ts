/**
 * Every fuzz target by name. Each is loaded on demand, so a worker thread imports only the
 * modules of the target it runs.
 */
import type { FuzzTarget } from '../fuzz-property.js';

/** A target's loader and its share of a full run. */
export interface TargetEntry {
  /**
   * Inputs of a full run, the corpus replayed first among them: 2.2 million in all, about 4
   * minutes on two idle cores. On a busy machine the time budget (180 s per target) ends the
   * slow targets first; from the rates measured at a load of 10 on 2 cores, about 2 million
   * still run (mesh-objects and snapshot-wire are the ones the budget cuts).
   * Cheap parsers get more inputs than targets that gzip, sign or build cluster states.
   */
  readonly fullRuns: number;
  readonly load: () => Promise<FuzzTarget>;
}

/** Target names in campaign order, with their loaders. */
export const TARGETS: Readonly<Record<string, TargetEntry>> = {
  'mesh-objects': { fullRuns: 300_000, load: async () => (await import('./mesh-objects.js')).meshObjectsTarget() },
  'snapshot-wire': { fullRuns: 200_000, load: async () => (await import('./snapshot-wire.js')).snapshotWireTarget() },
  'agent-api': { fullRuns: 300_000, load: async () => (await import('./agent-api.js')).agentApiTarget() },
  'tunnel-headers': { fullRuns: 600_000, load: async () => (await import('./tunnel-headers.js')).tunnelHeadersTarget() },
  'iptables-save': { fullRuns: 400_000, load: async () => (await import('./iptables-save.js')).iptablesSaveTarget() },
  'worker-ipc': { fullRuns: 400_000, load: async () => (await import('./worker-ipc.js')).workerIpcTarget() },
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
