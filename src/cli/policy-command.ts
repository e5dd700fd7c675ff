/**
 * `meshlet policy explain` and `meshlet policy check`: the AuthorizationPolicy tools for an
 * SRE (`docs/sre-cli.md`). Wiring only: `policy-explain.ts` and `policy-check.ts` do the work.
 */
import type { Command } from 'commander';
import { MeshletError, type MeshletErrorCode } from '../mesh/errors.js';
import { adminOptions, processIo, runAdminAction, withUsageExits } from './admin-client.js';
import { outputOptions, type OutputIo } from './output.js';
import { policyCheck, type CheckFlags } from './policy-check.js';
import { policyExplain, type ExplainFlags } from './policy-explain.js';

/** Codes of bad input read offline (YAML, objects, their conflicts): exit 64 like a bad flag. */
const INPUT_CODES: readonly MeshletErrorCode[] = ['MESHLET_ERR_YAML_PARSE', 'MESHLET_ERR_OBJECT_INVALID', 'MESHLET_ERR_OBJECT_CONFLICT'];

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Adds `meshlet policy`. */
export function registerPolicyCommand(program: Command, io: OutputIo = processIo): void {
  const policy = withUsageExits(program.command('policy'), io).description('AuthorizationPolicy tools: explain a decision, check a directory of policies');
  const explain = adminOptions(policy.command('explain'))
    .description('why SOURCE may or may not reach DESTINATION: the verdict, then every policy selecting the destination, rule by rule (exit 0 allowed, 1 denied, 64 bad input)')
    .option('--source <source>', 'pod/NS/NAME, workload/NS/NAME, NS/NAME, a SPIFFE ID, an IP address, or plaintext:<one of these>')
    .option('--destination <destination>', 'svc/NS/NAME[:PORT], pod/NS/NAME, NS/NAME, IP:PORT (a Service VIP or a workload)')
    .option('--port <port>', 'the destination port (a Service port for a Service, else the workload port)')
    .option('--method <method>', 'an HTTP request: its method (default GET when another request flag is given)')
    .option('--path <path>', 'an HTTP request: its path (default /)')
    .option('--host <host>', 'an HTTP request: its Host (default the Service name, or the address)')
    .option('-H, --header <name:value>', 'an HTTP request header (repeatable)', collect)
    .option('--sni <name>', 'the TLS server name the client sends')
    .option('--mode <mode>', 'force the evaluation mode: request, connection-http or connection-opaque')
    .option('--config <dir>', 'offline: a directory of mesh YAML (as static mode reads it) instead of the agent')
    .option('--trust-domain <name>', 'with --config: the mesh\'s SPIFFE trust domain (default cluster.local)');
  outputOptions(explain, 'policy explain', { text: 'the verdict, then each policy rule by rule' })
    .action((opts: ExplainFlags) => runPolicyAction(io, 'policy explain', () => policyExplain(io, opts)));
  const check = policy
    .command('check')
    .description('lint the AuthorizationPolicies of a directory of mesh YAML against that mesh (exit 0 clean or warnings only, 1 errors, 64 bad YAML)')
    .argument('<dir>', 'directory of mesh YAML, read as static mode and the controller read it')
    .option('--trust-domain <name>', 'the mesh\'s SPIFFE trust domain, as the controller takes it', 'cluster.local');
  outputOptions(check, 'policy check', { text: 'one line per finding, then the counts' })
    .action((dir: string, opts: CheckFlags) => runPolicyAction(io, 'policy check', () => policyCheck(io, dir, opts)));
}

/**
 * {@link runAdminAction}, with bad YAML or objects read offline exiting 64 as a bad flag does
 * (the message lists every problem with its file, object and field).
 */
function runPolicyAction(io: OutputIo, name: string, action: () => Promise<number>): Promise<void> {
  return runAdminAction(io, name, async () => {
    try {
      return await action();
    } catch (err) {
      if (err instanceof MeshletError && INPUT_CODES.includes(err.code)) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', err.message, { cause: err, details: err.details });
      throw err;
    }
  });
}
