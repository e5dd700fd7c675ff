/**
 * `meshlet iptables print|apply|verify|clean`: meshlet's capture rules by hand, for operators
 * and for debugging a node. Flags are checked all at once before anything runs; bad flags exit
 * with 64 (EX_USAGE), naming each flag and value.
 */
import { existsSync } from 'node:fs';
import type { Command, CommanderError } from 'commander';
import type { LevelWithSilent, Logger } from 'pino';
import { backendCommands, type IptablesBackend } from '../iptables/backend.js';
import {
  DEFAULT_INBOUND_PORT,
  DEFAULT_OUTBOUND_PORT,
  DEFAULT_TUNNEL_PORT,
  checkCaptureSpec,
  resolveCaptureSpec,
  type CaptureSpec,
  type CaptureSpecField,
} from '../iptables/capture-spec.js';
import type { FamilyDrift } from '../iptables/drift.js';
import type { IpFamily } from '../mesh/workload-address.js';
import { ALL_FAMILIES, IptablesManager, type VerifyReport } from '../iptables/manager.js';
import { buildRules } from '../iptables/rule-builder.js';
import { createCommandRunner, isValidNetnsName, type CommandRunner, type CommandRunnerOptions } from '../iptables/runner.js';
import { EXIT_USAGE, MeshletError, isMeshletError } from '../mesh/errors.js';
import { DEFAULT_TRUST_DOMAIN } from '../mesh/types.js';
import { LOG_LEVELS } from '../ops/root-logger.js';
import { loadStaticSnapshot } from './static-source.js';

/** What the iptables command needs from its caller. Only `createLogger` is required. */
export interface IptablesCommandDeps {
  createLogger(level: LevelWithSilent): Logger;
  /** Output of the command. Default: process.stdout. */
  readonly stdout?: (text: string) => void;
  /** Error messages. Default: process.stderr. */
  readonly stderr?: (text: string) => void;
  /** Ends the run with an exit code (never called for 0). Default: process.exit. */
  readonly exit?: (code: number) => void;
  /** Makes the command runner. Default: {@link createCommandRunner}. */
  readonly createRunner?: (options: CommandRunnerOptions) => CommandRunner;
}

/** The raw flag values, as commander parses them (all strings: checked by us, all at once). */
export interface IptablesCliOptions {
  readonly workloadIp?: readonly string[];
  readonly outboundPort?: string;
  readonly inboundPort?: string;
  readonly tunnelPort?: string;
  readonly excludePort?: readonly string[];
  readonly excludeInboundPort?: readonly string[];
  readonly excludeOutboundPort?: readonly string[];
  readonly netns?: string;
  readonly family?: string;
  readonly backend?: string;
  readonly logLevel?: string;
  /** With `node`: take the workload addresses from this mesh YAML directory. */
  readonly config?: string;
  readonly node?: string;
}

/** The flag each spec field comes from, so spec problems are reported in flag terms. */
const FLAG_OF: Record<CaptureSpecField, string> = {
  workloadIps: '--workload-ip',
  outboundPort: '--outbound-port',
  inboundPort: '--inbound-port',
  tunnelPort: '--tunnel-port',
  excludeInboundPorts: '--exclude-inbound-port',
  excludeOutboundPorts: '--exclude-outbound-port',
};

function bad(flag: string, value: string, reason: string): string {
  return `${flag} ${JSON.stringify(value)}: ${reason}`;
}

function parsePort(flag: string, value: string | undefined, problems: string[]): number | undefined {
  if (value === undefined) return undefined;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (port >= 1 && port <= 65535) return port;
  problems.push(bad(flag, value, 'not a TCP port (1-65535)'));
  return undefined;
}

function parsePorts(flag: string, values: readonly string[] | undefined, problems: string[]): number[] {
  return (values ?? []).flatMap((v) => parsePort(flag, v, problems) ?? []);
}

/**
 * Turns the flags into a {@link CaptureSpec}: the one seam between the CLI and the rule set.
 * Async so that a future `--config DIR --node NAME` (workload addresses from the mesh YAML)
 * fits here without changing any caller. Throws MESHLET_ERR_CONFIG_INVALID whose `details`
 * name every bad flag and value.
 */
export async function captureSpecFromOptions(options: IptablesCliOptions): Promise<CaptureSpec> {
  const problems: string[] = [];
  const both = parsePorts('--exclude-port', options.excludePort, problems);
  const outboundPort = parsePort('--outbound-port', options.outboundPort, problems);
  const inboundPort = parsePort('--inbound-port', options.inboundPort, problems);
  const tunnelPort = parsePort('--tunnel-port', options.tunnelPort, problems);
  const fromConfig = await configWorkloadIps(options, problems);
  const spec: CaptureSpec = {
    workloadIps: [...(options.workloadIp ?? []), ...fromConfig],
    ...(outboundPort === undefined ? {} : { outboundPort }),
    ...(inboundPort === undefined ? {} : { inboundPort }),
    ...(tunnelPort === undefined ? {} : { tunnelPort }),
    excludeInboundPorts: [...both, ...parsePorts('--exclude-inbound-port', options.excludeInboundPort, problems)],
    excludeOutboundPorts: [...both, ...parsePorts('--exclude-outbound-port', options.excludeOutboundPort, problems)],
  };
  for (const p of checkCaptureSpec(spec)) {
    const reason = p.related === undefined ? p.reason : `same port as ${FLAG_OF[p.related]}; the agent ports must differ`;
    problems.push(bad(FLAG_OF[p.field], p.value, reason));
  }
  if (problems.length > 0) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `invalid flags: ${problems.join('; ')}`, { details: problems });
  }
  return spec;
}

/**
 * The addresses of the meshed workloads of `--node` in the mesh YAML of `--config`: the same
 * set the agent in static mode captures.
 */
async function configWorkloadIps(options: IptablesCliOptions, problems: string[]): Promise<string[]> {
  if (options.config === undefined && options.node === undefined) return [];
  if (options.config === undefined || options.node === undefined) {
    problems.push(bad(options.config === undefined ? '--node' : '--config', options.config ?? options.node ?? '', '--config and --node go together'));
    return [];
  }
  try {
    const snapshot = await loadStaticSnapshot(options.config, options.node, DEFAULT_TRUST_DOMAIN);
    return snapshot.localWorkloads.flatMap((w) => w.addresses);
  } catch (e) {
    problems.push(...(isMeshletError(e) && e.details.length > 0 ? e.details : [bad('--config', options.config, (e as Error).message)]));
    return [];
  }
}

/** The non-spec settings of a run, checked. */
interface RunSettings {
  readonly families: readonly IpFamily[];
  readonly netns?: string;
  readonly backend?: IptablesBackend;
  readonly logLevel: LevelWithSilent;
}

function runSettings(options: IptablesCliOptions, problems: string[]): RunSettings {
  const family = options.family ?? 'both';
  const families = family === 'both' ? ALL_FAMILIES : ALL_FAMILIES.filter((f) => f === family);
  if (families.length === 0) problems.push(bad('--family', family, 'must be ipv4, ipv6 or both'));
  const backend = options.backend ?? 'auto';
  if (!['auto', 'nft', 'legacy'].includes(backend)) problems.push(bad('--backend', backend, 'must be auto, nft or legacy'));
  const logLevel = LOG_LEVELS.find((l) => l === (options.logLevel ?? 'error'));
  if (logLevel === undefined) problems.push(bad('--log-level', options.logLevel ?? '', `must be one of ${LOG_LEVELS.join(', ')}`));
  const { netns } = options;
  if (netns !== undefined && !isValidNetnsName(netns)) problems.push(bad('--netns', netns, 'not a network namespace name'));
  else if (netns !== undefined && !existsSync(`/run/netns/${netns}`)) {
    problems.push(bad('--netns', netns, `no such network namespace (/run/netns/${netns} does not exist)`));
  }
  return {
    families,
    logLevel: logLevel ?? 'error',
    ...(netns === undefined ? {} : { netns }),
    ...(backend === 'nft' || backend === 'legacy' ? { backend: backendCommands(backend) } : {}),
  };
}

type Verb = 'print' | 'apply' | 'verify' | 'clean';

/** Output of a verb: lines to print and the exit code. */
interface Outcome {
  readonly lines: readonly string[];
  readonly code: number;
}

function describeDrift(family: IpFamily, drift: FamilyDrift | undefined): string[] {
  if (drift === undefined) return [];
  if (drift.inSync) return [`${family}: in sync`];
  return [
    `${family}: drift`,
    ...drift.missing.map((r) => `  missing:    ${r}`),
    ...drift.unexpected.map((r) => `  unexpected: ${r}`),
  ];
}

async function runVerb(verb: Verb, spec: CaptureSpec, settings: RunSettings, manager: () => IptablesManager): Promise<Outcome> {
  if (verb === 'print') {
    const rules = buildRules(spec);
    if (settings.families.length === 1) return { lines: [rules[settings.families[0] ?? 'ipv4'].trimEnd()], code: 0 };
    return { lines: [rules.ipv4.trimEnd(), '', rules.ipv6.trimEnd()], code: 0 };
  }
  const m = manager();
  if (verb === 'clean') {
    await m.clean();
    return { lines: [`removed meshlet capture rules (${settings.families.join(', ')}; backend ${(await m.backend()).kind})`], code: 0 };
  }
  if (verb === 'verify') {
    const report: VerifyReport = await m.verify(spec);
    return { lines: settings.families.flatMap((f) => describeDrift(f, report[f])), code: report.inSync ? 0 : 1 };
  }
  await m.apply(spec);
  const counts = resolveCaptureSpec(spec).addresses;
  const summary = settings.families.map((f) => `${f} ${counts[f].length} workload address(es)`).join(', ');
  return { lines: [`applied meshlet capture rules: ${summary} (backend ${(await m.backend()).kind})`], code: 0 };
}

function addSpecOptions(cmd: Command): Command {
  return cmd
    .option('--workload-ip <ip...>', 'address of a meshed workload on this node (repeatable; IPv4 and IPv6)')
    .option('--config <dir>', 'with --node: capture the meshed workloads of that node in this mesh YAML directory')
    .option('--node <name>', 'with --config: the node whose workloads to capture')
    .option('--outbound-port <port>', `outbound capture port (default: ${DEFAULT_OUTBOUND_PORT})`)
    .option('--inbound-port <port>', `inbound capture port (default: ${DEFAULT_INBOUND_PORT})`)
    .option('--tunnel-port <port>', `tunnel port, never captured (default: ${DEFAULT_TUNNEL_PORT})`)
    .option('--exclude-port <port...>', 'destination port left alone both inbound and outbound (repeatable)')
    .option('--exclude-inbound-port <port...>', 'destination port of inbound traffic left alone (repeatable)')
    .option('--exclude-outbound-port <port...>', 'destination port of outbound traffic left alone (repeatable)');
}

function addRunOptions(cmd: Command, withKernel: boolean): Command {
  cmd.option('--family <family>', 'ipv4, ipv6 or both (default: both)');
  cmd.option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')} (default: error; results go to stdout as text)`);
  if (!withKernel) return cmd;
  return cmd
    .option('--netns <name>', 'run inside this named network namespace (ip netns exec)')
    .option('--backend <kind>', 'iptables flavour: auto, nft or legacy (default: auto, detected)');
}

/** The deps with their defaults filled in. */
type Io = Required<IptablesCommandDeps>;

/** Checks every flag of `verb` at once; undefined (after exiting 64) when any is bad. */
async function checkedFlags(verb: Verb, options: IptablesCliOptions, io: Io): Promise<{ spec: CaptureSpec; settings: RunSettings } | undefined> {
  const problems: string[] = [];
  const settings = runSettings(options, problems);
  let spec: CaptureSpec = { workloadIps: [] };
  try {
    if (verb !== 'clean') spec = await captureSpecFromOptions(options);
  } catch (e) {
    if (!isMeshletError(e, 'MESHLET_ERR_CONFIG_INVALID')) throw e;
    problems.push(...e.details);
  }
  if (problems.length === 0) return { spec, settings };
  io.stderr(problems.map((p) => `meshlet iptables ${verb}: ${p}\n`).join(''));
  io.exit(EXIT_USAGE);
  return undefined;
}

/** One run of `meshlet iptables <verb>`: check flags, act, print, exit non-zero when needed. */
async function runCommand(verb: Verb, options: IptablesCliOptions, io: Io): Promise<void> {
  const checked = await checkedFlags(verb, options, io);
  if (checked === undefined) return;
  const { spec, settings } = checked;
  const manager = (): IptablesManager =>
    new IptablesManager({
      logger: io.createLogger(settings.logLevel),
      runner: io.createRunner(settings.netns === undefined ? {} : { netns: settings.netns }),
      families: settings.families,
      ...(settings.backend === undefined ? {} : { backend: settings.backend }),
    });
  let outcome: Outcome;
  try {
    outcome = await runVerb(verb, spec, settings, manager);
  } catch (e) {
    const code = isMeshletError(e) ? `${e.code}: ` : '';
    io.stderr(`meshlet iptables ${verb}: ${code}${e instanceof Error ? e.message : String(e)}\n`);
    io.exit(isMeshletError(e, 'MESHLET_ERR_CONFIG_INVALID') ? EXIT_USAGE : 1);
    return;
  }
  if (outcome.lines.length > 0) io.stdout(`${outcome.lines.join('\n')}\n`);
  if (outcome.code !== 0) io.exit(outcome.code);
}

const VERBS: readonly (readonly [Verb, string])[] = [
  ['print', 'print the rules as iptables-restore --noflush input (changes nothing)'],
  ['apply', 'apply the rules atomically (one restore per family); re-running reconciles'],
  ['verify', 'compare the kernel rules with the wanted ones; exit 1 and list the drift'],
  ['clean', 'remove every meshlet chain and jump'],
];

/**
 * Adds `meshlet iptables print|apply|verify|clean` to `program`.
 * Exit codes: 0 done (verify: in sync), 1 failed (verify: drift), 64 bad flags.
 */
export function registerIptablesCommand(program: Command, deps: IptablesCommandDeps): Command {
  const io: Io = {
    createLogger: deps.createLogger,
    stdout: deps.stdout ?? ((text: string) => void process.stdout.write(text)),
    stderr: deps.stderr ?? ((text: string) => void process.stderr.write(text)),
    exit: deps.exit ?? ((code: number) => process.exit(code)),
    createRunner: deps.createRunner ?? createCommandRunner,
  };
  // Commander's own parse errors (unknown flag, missing value) exit 64 too; help exits 0.
  const onParseExit = (e: CommanderError): never => {
    io.exit(e.exitCode === 0 ? 0 : EXIT_USAGE);
    throw e;
  };
  const iptables = program
    .command('iptables')
    .description("meshlet's nat capture rules in this node's network namespace")
    .exitOverride(onParseExit);
  for (const [verb, description] of VERBS) {
    const cmd = iptables.command(verb).description(description).exitOverride(onParseExit);
    if (verb !== 'clean') addSpecOptions(cmd);
    addRunOptions(cmd, verb !== 'print');
    cmd.action((options: IptablesCliOptions) => runCommand(verb, options, io));
  }
  return iptables;
}
