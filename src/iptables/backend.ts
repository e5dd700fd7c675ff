/**
 * Which iptables meshlet drives: the legacy (x_tables) or the nf_tables flavour. Rules must go
 * where kube-proxy and the CNI put theirs: with both flavours in use, the nat hooks run both
 * rule sets, and meshlet's "first in PREROUTING" only means something within one flavour.
 */
import { MeshletError } from '../mesh/errors.js';
import type { IpFamily } from '../mesh/workload-address.js';
import type { CommandRunner } from './runner.js';

/** The iptables flavour. */
export type BackendKind = 'legacy' | 'nft';

/** The save and restore commands of one family. */
export interface FamilyCommands {
  readonly save: string;
  readonly restore: string;
}

/** The commands meshlet runs, per family. */
export interface IptablesBackend {
  readonly kind: BackendKind;
  readonly ipv4: FamilyCommands;
  readonly ipv6: FamilyCommands;
}

/**
 * The commands of a flavour. `suffixed` picks `iptables-nft-restore` style names (present where
 * both flavours are installed); otherwise the plain `iptables-restore` names, which are the
 * host's default flavour.
 */
export function backendCommands(kind: BackendKind, suffixed = true): IptablesBackend {
  const name = (family: IpFamily, verb: 'save' | 'restore'): string =>
    `${family === 'ipv4' ? 'iptables' : 'ip6tables'}${suffixed ? `-${kind}` : ''}-${verb}`;
  return {
    kind,
    ipv4: { save: name('ipv4', 'save'), restore: name('ipv4', 'restore') },
    ipv6: { save: name('ipv6', 'save'), restore: name('ipv6', 'restore') },
  };
}

/** The flavour an `iptables --version` line names, if it names one. */
export function kindFromVersion(version: string): BackendKind | undefined {
  if (version.includes('(nf_tables)')) return 'nft';
  if (version.includes('(legacy)')) return 'legacy';
  // iptables before 1.8 printed no flavour: it only had the legacy one.
  const match = /\bv(\d+)\.(\d+)/.exec(version);
  if (match !== null && (Number(match[1]) < 1 || (Number(match[1]) === 1 && Number(match[2]) < 8))) return 'legacy';
  return undefined;
}

/**
 * Counts rules (`-A` lines) a flavour holds, all tables, both families; 0 when it cannot tell.
 * No `-t`: a save of all tables lists the tables that exist and creates none, while a legacy
 * `-t nat` would instantiate an empty legacy nat table, and detection must only look.
 */
async function countRules(runner: CommandRunner, kind: BackendKind): Promise<number> {
  const commands = backendCommands(kind, true);
  const outputs = await Promise.all([runner.run(commands.ipv4.save, []), runner.run(commands.ipv6.save, [])]);
  let count = 0;
  for (const { code, stdout } of outputs) {
    if (code !== 0) continue;
    for (const line of stdout.split('\n')) if (/^(\[\d+:\d+\]\s+)?-A\s/.test(line)) count += 1;
  }
  return count;
}

/**
 * Picks the backend of the host (or netns) the runner reaches:
 * 1. both `iptables-legacy` and `iptables-nft` work: the one holding more rules (kube-proxy's,
 *    the CNI's) wins; on a tie (e.g. both empty) the default `iptables` decides;
 * 2. only one of them works: that one;
 * 3. neither: the default `iptables --version` says `(nf_tables)` or `(legacy)`.
 * Throws MESHLET_ERR_IPTABLES_BACKEND, with what each probe said, when nothing works.
 */
export async function detectBackend(runner: CommandRunner): Promise<IptablesBackend> {
  const [legacy, nft, plain] = await Promise.all([
    runner.run('iptables-legacy', ['--version']),
    runner.run('iptables-nft', ['--version']),
    runner.run('iptables', ['--version']),
  ]);
  const defaultKind = plain.code === 0 ? kindFromVersion(plain.stdout + plain.stderr) : undefined;
  if (legacy.code === 0 && nft.code === 0) {
    const [legacyRules, nftRules] = await Promise.all([countRules(runner, 'legacy'), countRules(runner, 'nft')]);
    if (legacyRules !== nftRules) return backendCommands(legacyRules > nftRules ? 'legacy' : 'nft', true);
    // Neither holds more rules: follow the host's default, or nft, the default of current distros.
    return backendCommands(defaultKind ?? 'nft', true);
  }
  if (legacy.code === 0) return backendCommands('legacy', true);
  if (nft.code === 0) return backendCommands('nft', true);
  if (defaultKind !== undefined) return backendCommands(defaultKind, false);
  const said = (name: string, r: { code: number; stdout: string; stderr: string }): string => {
    const text = (r.code === 0 ? `printed ${JSON.stringify(r.stdout.trim())}, naming no flavour` : r.stderr.trim()) || 'no output';
    return `${name} --version: exit ${r.code}: ${text}`;
  };
  const details = [said('iptables-legacy', legacy), said('iptables-nft', nft), said('iptables', plain)];
  throw new MeshletError(
    'MESHLET_ERR_IPTABLES_BACKEND',
    `no usable iptables backend: neither iptables-legacy, iptables-nft nor iptables works (${details.join('; ')}); install the iptables package`,
    { details },
  );
}
