/**
 * The controller-scale bench's command line: `--name value` pairs, validated all at once (every
 * problem listed in one MESHLET_ERR_CONFIG_INVALID), frozen. Pure.
 *
 *   --agents 50  --pods 5000  --services 500  --changes 30  --deltas 1  --hosts N
 *   --limit-minutes 10  --change-timeout-seconds 30  --controller-node-options "--cpu-prof --cpu-prof-dir=/tmp/prof"
 *
 * @module
 */

import { MeshletError } from '../../src/mesh/errors.js';
import { ADDRESS_CAPACITY, addressesNeeded } from './address-plan.js';

/** A validated run. */
export interface ScaleOptions {
  readonly agents: number;
  readonly pods: number;
  readonly services: number;
  /** One-pod changes measured after the initial sync. */
  readonly changes: number;
  /** Agents ask for deltas (false: full snapshots only, as agents before deltas). */
  readonly deltas: boolean;
  /** Child processes the simulated agents are spread over. */
  readonly hosts: number;
  /** The whole run's bound, initial sync included. */
  readonly limitMinutes: number;
  /** Longest wait for one change to reach every agent. */
  readonly changeTimeoutSeconds: number;
  /** Extra Node.js flags for the controller process. */
  readonly controllerNodeOptions: readonly string[];
}

/** Bounds, with reasons: the controller's registry and the machine, not the protocol. */
export const SCALE_LIMITS = {
  /** More nodes than the issue's 1,000, not unbounded: each is a join token and a stream. */
  maxAgents: 4_096,
  /** Each agent host is a Node process (~40 MB before any view). */
  maxHosts: 64,
  maxChanges: 1_000,
  /** An hour: a run is a bench, not a soak. */
  maxLimitMinutes: 60,
} as const;

/** Agents per host by default: enough hosts to decode on every core, not one per agent. */
const AGENTS_PER_HOST = 125;

const KNOWN = new Set(['agents', 'pods', 'services', 'changes', 'deltas', 'hosts', 'limit-minutes', 'change-timeout-seconds', 'controller-node-options']);

function wholeNumber(raw: string | undefined, name: string, min: number, max: number, fallback: number, problems: string[]): number {
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    problems.push(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return fallback;
  }
  return n;
}

/** Splits `argv` (after the script) into `--name value` pairs; a flag without a value is a problem. */
function pairs(argv: readonly string[], problems: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i] as string;
    const value = argv[i + 1];
    const name = flag.startsWith('--') ? flag.slice(2) : '';
    if (!KNOWN.has(name)) problems.push(`unknown argument ${JSON.stringify(flag)} (flags: ${[...KNOWN].map((k) => `--${k}`).join(', ')})`);
    else if (value === undefined) problems.push(`${flag} needs a value`);
    else if (out.has(name)) problems.push(`${flag} is given twice`);
    else out.set(name, value);
  }
  return out;
}

/** Node flags like `--cpu-prof --cpu-prof-dir=/tmp/prof`, whitespace-separated. */
function nodeOptions(raw: string | undefined, problems: string[]): string[] {
  if (raw === undefined) return [];
  const list = raw.split(/\s+/).filter((f) => f !== '');
  if (list.length === 0 || list.some((f) => !/^--[a-z0-9-]+(=[A-Za-z0-9_.,:/-]+)?$/.test(f))) {
    problems.push(`--controller-node-options must be Node.js flags like "--cpu-prof --cpu-prof-dir=/tmp/prof", got ${JSON.stringify(raw)}`);
  }
  return list;
}

/** Validates the bench's arguments; throws MESHLET_ERR_CONFIG_INVALID listing every problem. */
export function scaleOptions(argv: readonly string[]): ScaleOptions {
  const problems: string[] = [];
  const flags = pairs(argv, problems);
  const agents = wholeNumber(flags.get('agents'), 'agents', 1, SCALE_LIMITS.maxAgents, 50, problems);
  const pods = wholeNumber(flags.get('pods'), 'pods', 1, ADDRESS_CAPACITY, 5_000, problems);
  const services = wholeNumber(flags.get('services'), 'services', 1, ADDRESS_CAPACITY, 500, problems);
  const changes = wholeNumber(flags.get('changes'), 'changes', 1, SCALE_LIMITS.maxChanges, 30, problems);
  const deltas = wholeNumber(flags.get('deltas'), 'deltas', 0, 1, 1, problems) === 1;
  const hostsDefault = Math.min(SCALE_LIMITS.maxHosts, Math.ceil(agents / AGENTS_PER_HOST));
  const hosts = wholeNumber(flags.get('hosts'), 'hosts', 1, SCALE_LIMITS.maxHosts, hostsDefault, problems);
  const limitMinutes = wholeNumber(flags.get('limit-minutes'), 'limit-minutes', 1, SCALE_LIMITS.maxLimitMinutes, 10, problems);
  const changeTimeoutSeconds = wholeNumber(flags.get('change-timeout-seconds'), 'change-timeout-seconds', 1, 600, 30, problems);
  const controllerNodeOptions = nodeOptions(flags.get('controller-node-options'), problems);
  if (hosts > agents) problems.push(`--hosts ${hosts} is more than --agents ${agents}: every host holds at least one agent`);
  if (pods < agents) problems.push(`--pods ${pods} is fewer than --agents ${agents}: every node runs at least one pod`);
  const needed = addressesNeeded({ agents, pods, services });
  if (needed > ADDRESS_CAPACITY) problems.push(`${agents} nodes, ${services} Services and ${pods} pods need ${needed} addresses; 198.18.0.0/15 gives the bench ${ADDRESS_CAPACITY}`);
  if (problems.length > 0) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `controller-scale: ${problems.join('; ')}`);
  return Object.freeze({ agents, pods, services, changes, deltas, hosts, limitMinutes, changeTimeoutSeconds, controllerNodeOptions: Object.freeze(controllerNodeOptions) });
}

/** Splits agents 0..agents-1 over `hosts` hosts as evenly as possible, in order. */
export function agentsOfHosts(agents: number, hosts: number): number[][] {
  const out: number[][] = [];
  for (let h = 0; h < hosts; h++) {
    const from = Math.floor((h * agents) / hosts);
    const to = Math.floor(((h + 1) * agents) / hosts);
    out.push(Array.from({ length: to - from }, (_, k) => from + k));
  }
  return out;
}
