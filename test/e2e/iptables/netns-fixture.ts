/**
 * Throwaway network namespaces for the iptables namespace tests: `mlt-ipt-<pid>-<n>`, deleted in
 * teardown, on Ctrl-C, and (when a killed run left them) by the next run. Every rule a test
 * makes lives in such a namespace and dies with it; the host's own rules are never touched.
 */
import { execFileSync, spawnSync } from 'node:child_process';

const PREFIX = 'mlt-ipt-';
/** Every `ip` call is bounded: a wedged command must not hang the suite. */
const IP_TIMEOUT_MS = 10_000;
const created = new Set<string>();
let counter = 0;
let handlersInstalled = false;

/** The part of a tap test the fixture needs. */
export interface TeardownTest {
  teardown(fn: () => void | Promise<void>): void;
}

function ip(args: readonly string[]): { ok: boolean; stdout: string; stderr: string } {
  const res = spawnSync('ip', [...args], { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  return { ok: res.status === 0, stdout: res.stdout ?? '', stderr: res.stderr ?? String(res.error ?? '') };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes `mlt-ipt-<pid>-*` namespaces whose process is gone (a killed earlier run). */
export function deleteStaleNamespaces(): string[] {
  const removed: string[] = [];
  for (const line of ip(['netns', 'list']).stdout.split('\n')) {
    const name = line.trim().split(/\s+/)[0] ?? '';
    const match = /^mlt-ipt-(\d+)-\d+$/.exec(name);
    if (match === null || alive(Number(match[1]))) continue;
    if (ip(['netns', 'del', name]).ok) removed.push(name);
  }
  return removed;
}

function deleteCreated(): void {
  for (const name of created) ip(['netns', 'del', name]);
  created.clear();
}

function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      deleteCreated();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
  process.once('exit', deleteCreated);
}

/** Creates a fresh netns, deleted when `t` ends. Throws when `ip netns add` fails. */
export function createNetns(t: TeardownTest): string {
  installSignalHandlers();
  if (counter === 0) deleteStaleNamespaces();
  counter += 1;
  const name = `${PREFIX}${process.pid}-${counter}`;
  const res = ip(['netns', 'add', name]);
  if (!res.ok) throw new Error(`ip netns add ${name} failed: ${res.stderr.trim()}`);
  created.add(name);
  t.teardown(() => {
    ip(['netns', 'del', name]);
    created.delete(name);
  });
  return name;
}

/** Runs a command inside `netns` and returns its stdout; throws with stderr on failure. */
export function inNetns(netns: string, command: string, args: readonly string[], stdin?: string): string {
  return execFileSync('ip', ['netns', 'exec', netns, command, ...args], {
    encoding: 'utf8',
    timeout: IP_TIMEOUT_MS,
    ...(stdin === undefined ? {} : { input: stdin }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** True when `netns` exists. */
export function netnsExists(netns: string): boolean {
  return ip(['netns', 'list']).stdout.split('\n').some((l) => l.trim().split(/\s+/)[0] === netns);
}
