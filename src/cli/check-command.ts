/**
 * `meshlet check --pre`: ✔/✖ lines for what the host needs before an agent runs on it, exit 1
 * when anything fails (`linkerd check --pre`). Reads the host; changes nothing on it: the nat
 * probe runs in a scratch network namespace the check makes and removes.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { Option, type Command } from 'commander';
import { createCommandRunner } from '../iptables/runner.js';
import { MeshletError } from '../mesh/errors.js';
import { processIo, runAdminAction, withUsageExits, type AdminIo } from './admin-client.js';
import { preInstallChecks, type CheckResult, type PreProbes } from './check-pre.js';

const run = promisify(execFile);
/** Scratch namespaces are `meshlet-check-<pid>`; one left by a killed check is removed by the next. */
const SCRATCH_PREFIX = 'meshlet-check-';

/** Flags of `check`. */
export interface CheckOptions {
  readonly pre?: boolean;
  readonly output: 'text' | 'json';
}

/** Adds `meshlet check`. */
export function registerCheckCommand(program: Command, io: AdminIo = processIo): void {
  withUsageExits(program.command('check'), io)
    .description('check this host: --pre, before installing an agent (runtime, root, iptables, nat, ports)')
    .option('--pre', 'what the host needs before an agent runs on it')
    .addOption(new Option('-o, --output <format>', 'text: one ✔/✖ line per check; json').choices(['text', 'json']).default('text'))
    .action((opts: CheckOptions) => runAdminAction(io, 'check', () => check(io, opts, hostProbes())));
}

/** Runs `check`; answers the exit code: 1 when a check failed. */
export async function check(io: AdminIo, opts: CheckOptions, probes: PreProbes): Promise<number> {
  if (opts.pre !== true) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', 'check: only --pre (the host, before installing) is built yet; for a running node use meshlet status, for the agents meshlet proxy-status');
  }
  const results = await preInstallChecks(probes);
  if (opts.output === 'json') io.stdout(`${JSON.stringify(results, null, 2)}\n`);
  else io.stdout(render(results));
  return results.some((r) => r.outcome === 'fail') ? 1 : 0;
}

/** The ✔/✖ lines, then a verdict. */
export function render(results: readonly CheckResult[]): string {
  const mark = { ok: '✔', fail: '✖', warn: '!' } as const;
  const lines = results.map((r) => `${mark[r.outcome]} ${r.name}: ${r.detail}${r.hint === undefined || r.outcome === 'ok' ? '' : `\n    ${r.hint}`}`);
  const failed = results.filter((r) => r.outcome === 'fail').length;
  lines.push(failed === 0 ? 'Status check results are ✔' : `Status check results are ✖ (${failed} failed)`);
  return `${lines.join('\n')}\n`;
}

/** The real host's probes. */
export function hostProbes(): PreProbes {
  return {
    nodeVersion: process.version,
    uid: process.getuid?.(),
    host: createCommandRunner({ timeoutMs: 15_000 }),
    tryNat,
    tryBind,
  };
}

function tryBind(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** Loads a nat REDIRECT rule with `restore` in a scratch netns, then removes the netns. */
async function tryNat(restore: string): Promise<string | undefined> {
  await removeStaleScratch();
  const name = `${SCRATCH_PREFIX}${process.pid}`;
  try {
    await run('ip', ['netns', 'add', name], { timeout: 10_000 });
  } catch (err) {
    return `cannot make a scratch network namespace: ${firstLine(err)}`;
  }
  try {
    const rules = ['*nat', ':MESHLET_CHECK - [0:0]', '-A MESHLET_CHECK -p tcp -j REDIRECT --to-ports 15001', 'COMMIT', ''].join('\n');
    const result = await createCommandRunner({ netns: name, timeoutMs: 15_000 }).run(restore, ['--noflush'], { stdin: rules });
    return result.code === 0 ? undefined : `${restore} exited ${result.code}: ${result.stderr.trim().split('\n')[0] ?? ''}`;
  } finally {
    await run('ip', ['netns', 'delete', name], { timeout: 10_000 }).catch(() => undefined);
  }
}

/** Scratch namespaces of checks whose process is gone (killed mid-check). */
async function removeStaleScratch(): Promise<void> {
  let names: string[];
  try {
    names = (await run('ip', ['netns', 'list'], { timeout: 10_000 })).stdout.split('\n').map((l) => l.split(' ')[0] ?? '');
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(SCRATCH_PREFIX)) continue;
    const pid = Number(name.slice(SCRATCH_PREFIX.length));
    if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
    await run('ip', ['netns', 'delete', name], { timeout: 10_000 }).catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function firstLine(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr?.trim() || e.message || String(err)).split('\n')[0] ?? '';
}
