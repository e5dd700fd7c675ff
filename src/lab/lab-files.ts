/**
 * The lab directory, `/run/meshlet/lab/<name>/`: `lab.json` (resolved topology, addresses,
 * agent pids), `config/` (mesh objects for agents in static mode), `state/` (shared by the
 * agents; the mesh CA lives there) and `logs/<node>.log`.
 *
 * @module
 */

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MeshletError } from '../mesh/errors.js';
import type { LabPlan } from './addressing.js';
import { planLab } from './addressing.js';
import { renderLabConfig } from './mesh-objects.js';
import type { LabTopology } from './topology.js';
import { parseLabTopology } from './topology-parse.js';

/** Paths of one lab's directory. */
export interface LabPaths {
  readonly dir: string;
  readonly record: string;
  readonly configDir: string;
  readonly stateDir: string;
  readonly logsDir: string;
}

/** What `lab.json` holds. */
export interface LabRecord {
  readonly name: string;
  readonly createdAt: string;
  /** Pid of the process that built the lab. */
  readonly ownerPid: number;
  /**
   * Built with `--detach`: it outlives its owner on purpose. A lab that is not detached and
   * whose owner is dead was left behind by a killed run (stale).
   */
  readonly detached: boolean;
  readonly topology: LabTopology;
  readonly plan: LabPlan;
  /** Agent pid per node (null: not running or agents disabled). */
  readonly agents: Readonly<Record<string, number | null>>;
}

/** A lab found on disk, its plan re-derived from its topology. */
export interface StoredLab {
  readonly record: LabRecord;
  readonly plan: LabPlan;
  readonly paths: LabPaths;
}

/** Paths of lab `name` under `baseDir`. */
export function labPaths(baseDir: string, name: string): LabPaths {
  const dir = join(baseDir, name);
  return {
    dir,
    record: join(dir, 'lab.json'),
    configDir: join(dir, 'config'),
    stateDir: join(dir, 'state'),
    logsDir: join(dir, 'logs'),
  };
}

/** Creates a fresh, empty lab directory (removing any old one first). */
export function createLabDir(paths: LabPaths): void {
  rmSync(paths.dir, { recursive: true, force: true });
  for (const dir of [paths.configDir, paths.stateDir, paths.logsDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * Writes a file so that readers (agents watching `config/`) see either the old or the new
 * text, never half of it: a hidden temporary name, then a rename.
 */
export function writeFileAtomic(dir: string, fileName: string, text: string): void {
  const tmp = join(dir, `.${fileName}.${process.pid}.tmp`);
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, join(dir, fileName));
}

/** Writes the plan's mesh objects into `config/`. */
export function writeLabConfig(paths: LabPaths, plan: LabPlan): void {
  for (const [file, text] of renderLabConfig(plan)) writeFileAtomic(paths.configDir, file, text);
}

/** Writes `lab.json`. */
export function writeLabRecord(paths: LabPaths, record: LabRecord): void {
  writeFileAtomic(paths.dir, 'lab.json', `${JSON.stringify(record, null, 2)}\n`);
}

function narrowAgents(v: unknown): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  if (typeof v !== 'object' || v === null) return out;
  for (const [node, pid] of Object.entries(v)) out[node] = typeof pid === 'number' ? pid : null;
  return out;
}

/**
 * Reads a lab's `lab.json`; its topology is re-validated and its plan re-derived (addressing
 * is deterministic), so a hand-edited file cannot smuggle in other addresses. Returns
 * undefined when the lab has no record; throws `MESHLET_ERR_LAB` when the record is unreadable.
 */
export function readLabRecord(baseDir: string, name: string): StoredLab | undefined {
  const paths = labPaths(baseDir, name);
  let text: string;
  try {
    text = readFileSync(paths.record, 'utf8');
  } catch {
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_LAB', `${paths.record} is not JSON`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null) throw new MeshletError('MESHLET_ERR_LAB', `${paths.record} is not a lab record`);
  const o = raw as Record<string, unknown>;
  const topology = parseLabTopology(o['topology'], paths.record);
  const plan = planLab(topology);
  const record: LabRecord = {
    name: topology.name,
    createdAt: typeof o['createdAt'] === 'string' ? o['createdAt'] : '',
    ownerPid: typeof o['ownerPid'] === 'number' ? o['ownerPid'] : 0,
    detached: o['detached'] === true,
    topology,
    plan,
    agents: narrowAgents(o['agents']),
  };
  return { record, plan, paths };
}

/** Names of the labs that have a directory under `baseDir`. */
export function listLabDirs(baseDir: string): string[] {
  try {
    return readdirSync(baseDir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}
