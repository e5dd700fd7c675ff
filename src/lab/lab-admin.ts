/**
 * Operations on labs by name, for the CLI: describe a lab, list what is up (including orphan
 * namespaces whose directory is gone), and take a lab down from another process than the one
 * that built it (`meshlet lab up --detach`, then `meshlet lab down`).
 *
 * @module
 */

import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { MeshletError } from '../mesh/errors.js';
import { MESH_DISABLED, MESH_ENABLED, MESH_LABEL } from '../mesh/types.js';
import type { LabPlan, PodPlan } from './addressing.js';
import { runCommand } from './host-command.js';
import { labPaths, listLabDirs, readLabRecord } from './lab-files.js';
import { listLabNetns, parseNetnsList, parsePids, removeLabNetns } from './netns-cleanup.js';
import { isValidLabName } from './topology-validate.js';

/** How long `downLabByName` lets agents drain after SIGTERM before SIGKILL. */
const DEFAULT_DOWN_GRACE_MS = 3000;
const POLL_MS = 50;

function checkName(name: string): void {
  if (!isValidLabName(name)) throw new MeshletError('MESHLET_ERR_LAB', `lab name ${JSON.stringify(name)} must match [a-z0-9]{1,8}`);
}

/** True when a pod is enrolled: its namespace is meshed and it did not opt out. */
export function isPodMeshed(plan: LabPlan, pod: PodPlan): boolean {
  const ns = plan.namespaces.find((n) => n.name === pod.namespace);
  return ns?.labels[MESH_LABEL] === MESH_ENABLED && pod.labels[MESH_LABEL] !== MESH_DISABLED;
}

/** Human-readable lines about a lab: nodes, pods, Services with their addresses. Pure. */
export function describeLab(plan: LabPlan, dir: string, agents: Readonly<Record<string, number | null>> = {}): string[] {
  const lines = [`lab ${plan.lab}: ${plan.nodes.length} nodes, ${plan.pods.length} pods, ${plan.services.length} services (${dir})`];
  for (const n of plan.nodes) {
    const pid = agents[n.name];
    lines.push(`  node ${n.name.padEnd(12)} ${n.address.padEnd(15)} pods ${n.podCidr.padEnd(16)} netns ${n.netns}${pid === null || pid === undefined ? '' : `  agent pid ${pid}`}`);
  }
  for (const p of plan.pods) {
    const mesh = isPodMeshed(plan, p) ? 'meshed' : 'not meshed';
    lines.push(`  pod  ${p.name.padEnd(12)} ${p.address.padEnd(15)} ${`${p.namespace}/${p.name}`.padEnd(20)} on ${p.node}, sa ${p.serviceAccount}, ${mesh}`);
  }
  for (const s of plan.services) {
    const ports = s.ports.map((p) => `${p.port}->${p.targetPort}${p.appProtocol === undefined ? '' : ` (${p.appProtocol})`}`).join(', ');
    lines.push(`  svc  ${`${s.namespace}/${s.name}`.padEnd(28)} ${s.vip.padEnd(15)} ${ports}`);
  }
  return lines;
}

/** Lab names that have at least one `ml-<lab>-*` namespace right now. */
export async function labsWithNamespaces(): Promise<string[]> {
  const res = await runCommand('ip', ['netns', 'list']);
  const labs = new Set<string>();
  for (const ns of parseNetnsList(res.stdout)) {
    const m = /^ml-([a-z0-9]{1,8})-/.exec(ns);
    if (m?.[1] !== undefined) labs.add(m[1]);
  }
  return [...labs].sort();
}

async function pidsIn(namespaces: readonly string[]): Promise<number[]> {
  const all: number[] = [];
  for (const ns of namespaces) all.push(...parsePids((await runCommand('ip', ['netns', 'pids', ns])).stdout));
  return all;
}

/**
 * Takes a lab down by name from any process: SIGTERM to every process in its namespaces (the
 * agents drain), SIGKILL after `graceMs`, delete the namespaces, remove the directory (all of
 * it, or only `lab.json` with `keepLogs`). Idempotent; returns the namespaces it removed.
 */
export async function downLabByName(name: string, opts: { baseDir: string; graceMs?: number; keepLogs?: boolean }): Promise<string[]> {
  checkName(name);
  const namespaces = await listLabNetns(name);
  for (const pid of await pidsIn(namespaces)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Gone already.
    }
  }
  const deadline = Date.now() + (opts.graceMs ?? DEFAULT_DOWN_GRACE_MS);
  while (Date.now() < deadline && (await pidsIn(namespaces)).length > 0) await sleep(POLL_MS);
  const removed = await removeLabNetns(name);
  const paths = labPaths(opts.baseDir, name);
  rmSync(opts.keepLogs === true ? paths.record : paths.dir, { recursive: true, force: true });
  return removed;
}

function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Labs left behind by killed runs: namespaces or a directory whose record is missing or
 * unreadable, or whose owner is dead although the lab was not detached.
 */
export async function staleLabs(baseDir: string): Promise<string[]> {
  const names = [...new Set([...listLabDirs(baseDir), ...(await labsWithNamespaces())])].sort();
  return names.filter((name) => {
    let stored;
    try {
      stored = readLabRecord(baseDir, name);
    } catch {
      return true;
    }
    return stored === undefined || (!stored.record.detached && !alive(stored.record.ownerPid));
  });
}
