/**
 * Removal of a lab's namespaces: every netns named `ml-<lab>-*`, after SIGKILLing the
 * processes inside (a namespace whose processes live on keeps its interfaces alive after
 * `ip netns del`). Used by `down`, by `up` against a stale lab from a killed run, and, in its
 * synchronous form, by the last-chance `exit` handler.
 *
 * @module
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { MeshletError } from '../mesh/errors.js';
import { runCommand, runCommandSync } from './host-command.js';
import { netnsPrefix } from './topology.js';

/** How long to wait for SIGKILLed processes to leave a namespace; they die in milliseconds. */
const KILL_WAIT_MS = 2000;
const KILL_POLL_MS = 20;

/** Names in `ip netns list` output (`name (id: 3)` or just `name`, one a line). */
export function parseNetnsList(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '');
}

/** Pids in `ip netns pids` output, never this process. */
export function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((pid) => pid > 1 && pid !== process.pid);
}

/** The namespaces of a lab that exist right now. */
export async function listLabNetns(lab: string): Promise<string[]> {
  const res = await runCommand('ip', ['netns', 'list']);
  if (res.code !== 0) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `ip netns list failed: ${res.stderr.trim()}`);
  return parseNetnsList(res.stdout).filter((name) => name.startsWith(netnsPrefix(lab)));
}

function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** SIGKILLs every process in a namespace and waits (bounded) until none is left. */
export async function killNetnsProcesses(netns: string): Promise<void> {
  const deadline = Date.now() + KILL_WAIT_MS;
  for (;;) {
    const res = await runCommand('ip', ['netns', 'pids', netns]);
    const pids = res.code === 0 ? parsePids(res.stdout) : [];
    if (pids.length === 0) return;
    if (Date.now() > deadline) {
      throw new MeshletError('MESHLET_ERR_LAB', `processes ${pids.join(', ')} in ${netns} survived SIGKILL for ${KILL_WAIT_MS} ms`);
    }
    killAll(pids);
    await sleep(KILL_POLL_MS);
  }
}

/**
 * Deletes every `ml-<lab>-*` namespace with its processes. Idempotent; returns the names it
 * removed. Throws `MESHLET_ERR_LAB` listing the namespaces it could not remove.
 */
export async function removeLabNetns(lab: string): Promise<string[]> {
  const names = await listLabNetns(lab);
  const failed: string[] = [];
  for (const ns of names) {
    try {
      await killNetnsProcesses(ns);
      const res = await runCommand('ip', ['netns', 'del', ns]);
      if (res.code !== 0) failed.push(`${ns}: ${res.stderr.trim()}`);
    } catch (err) {
      failed.push(`${ns}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (failed.length > 0) {
    throw new MeshletError('MESHLET_ERR_LAB', `could not remove lab ${lab} namespaces: ${failed.join('; ')}`, { details: failed });
  }
  return names;
}

/**
 * Synchronous, best-effort {@link removeLabNetns} for a process `exit` handler: kills the
 * processes of each namespace once and deletes it. Never throws.
 */
export function removeLabNetnsSync(lab: string): void {
  const list = runCommandSync('ip', ['netns', 'list']);
  const names = parseNetnsList(list.stdout).filter((name) => name.startsWith(netnsPrefix(lab)));
  for (const ns of names) {
    killAll(parsePids(runCommandSync('ip', ['netns', 'pids', ns]).stdout));
    runCommandSync('ip', ['netns', 'del', ns]);
  }
}
