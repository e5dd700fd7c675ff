/**
 * `meshlet check --pre`: what a host needs before a node agent runs on it, checked without
 * changing the host: the runtime, root, an iptables backend, a nat table that takes a REDIRECT
 * rule (tried in a scratch network namespace made and removed by the check), and the agent's
 * ports free. Each check is a function of injected probes, so tests drive every outcome.
 */
import type { CommandRunner } from '../iptables/runner.js';
import { detectBackend } from '../iptables/backend.js';

/** One line of the report. */
export interface CheckResult {
  readonly name: string;
  /** `ok` ✔, `fail` ✖ (exit 1), `warn` ! (reported, not failing). */
  readonly outcome: 'ok' | 'fail' | 'warn';
  readonly detail: string;
  /** What to do about a failure or warning. */
  readonly hint?: string;
}

/** The agent's ports, where it binds them (`docs/architecture.md`). */
export const AGENT_PORTS: ReadonlyArray<{ readonly port: number; readonly host: string; readonly what: string }> = [
  { port: 15001, host: '0.0.0.0', what: 'outbound capture' },
  { port: 15006, host: '0.0.0.0', what: 'inbound capture' },
  { port: 15008, host: '0.0.0.0', what: 'tunnel' },
  { port: 15020, host: '0.0.0.0', what: 'metrics' },
  { port: 15021, host: '0.0.0.0', what: 'readiness' },
  { port: 15000, host: '127.0.0.1', what: 'admin API' },
];

/** The oldest Node.js the agent runs on (package.json `engines`). */
export const MIN_NODE: readonly [number, number] = [20, 18];

/** What the checks may touch. */
export interface PreProbes {
  readonly nodeVersion: string;
  readonly uid: number | undefined;
  /** Runs commands on the host. */
  readonly host: CommandRunner;
  /** Tries a nat REDIRECT rule with `restore` in a scratch network namespace; the error text, or undefined when it took. */
  tryNat(restore: string): Promise<string | undefined>;
  /** Tries to bind `host:port`; the error code (EADDRINUSE, EACCES, ...) or undefined when free. */
  tryBind(port: number, host: string): Promise<string | undefined>;
}

export function checkRuntime(version: string): CheckResult {
  const m = /^v(\d+)\.(\d+)/.exec(version);
  const ok = m !== null && (Number(m[1]) > MIN_NODE[0] || (Number(m[1]) === MIN_NODE[0] && Number(m[2]) >= MIN_NODE[1]));
  return ok
    ? { name: 'Node.js', outcome: 'ok', detail: version }
    : { name: 'Node.js', outcome: 'fail', detail: `${version} is older than ${MIN_NODE.join('.')}`, hint: 'install Node.js 24 (the release meshlet is tested with), or 20.18 at least' };
}

export function checkRoot(uid: number | undefined): CheckResult {
  return uid === 0
    ? { name: 'privileges', outcome: 'ok', detail: 'root (the agent applies iptables rules and binds its ports)' }
    : { name: 'privileges', outcome: 'fail', detail: `running as uid ${uid ?? 'unknown'}, not root`, hint: 'run the agent (and this check) as root; in Kubernetes the DaemonSet runs it as uid 0 with NET_ADMIN and NET_RAW' };
}

/** Runs every pre-install check, in order. */
export async function preInstallChecks(probes: PreProbes): Promise<CheckResult[]> {
  const results: CheckResult[] = [checkRuntime(probes.nodeVersion), checkRoot(probes.uid)];
  let restore: string | undefined;
  try {
    const backend = await detectBackend(probes.host);
    restore = backend.ipv4.restore;
    results.push({ name: 'iptables', outcome: 'ok', detail: `${backend.kind} backend (${backend.ipv4.restore})` });
  } catch (err) {
    results.push({ name: 'iptables', outcome: 'fail', detail: (err as Error).message, hint: 'install iptables (Debian: apt-get install iptables)' });
  }
  if (restore === undefined) {
    results.push({ name: 'nat table', outcome: 'fail', detail: 'not tried: no iptables backend', hint: 'install iptables first' });
  } else if (probes.uid !== 0) {
    results.push({ name: 'nat table', outcome: 'warn', detail: 'not tried: needs root (a scratch network namespace)', hint: 'run this check as root' });
  } else {
    const error = await probes.tryNat(restore);
    results.push(
      error === undefined
        ? { name: 'nat table', outcome: 'ok', detail: 'a REDIRECT rule loads (tried in a scratch network namespace, removed)' }
        : { name: 'nat table', outcome: 'fail', detail: `a REDIRECT rule does not load: ${error}`, hint: 'the kernel needs netfilter nat (iptable_nat or nft_chain_nat, nf_nat); load the modules or use a kernel that has them' },
    );
  }
  for (const { port, host, what } of AGENT_PORTS) {
    const code = await probes.tryBind(port, host);
    results.push(
      code === undefined
        ? { name: `port ${port}`, outcome: 'ok', detail: `free on ${host} (${what})` }
        : {
            name: `port ${port}`,
            outcome: 'fail',
            detail: `cannot bind ${host}:${port} (${what}): ${code}`,
            hint: code === 'EADDRINUSE' ? `another process holds it (ss -ltnp 'sport = :${port}'); an agent already running here holds it too` : 'run as root',
          },
    );
  }
  return results;
}
