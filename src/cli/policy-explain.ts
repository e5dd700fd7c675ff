/**
 * `meshlet policy explain`: why a source may or may not reach a destination. Offline with
 * `--config DIR` (the directory read exactly as static mode and the controller's YAML registry
 * read it), else through this node's agent (`GET /policy/explain`, on the snapshot in force).
 * Either way the answer is an {@link ExplainResult}, printed as a table, JSON or YAML.
 *
 * Exit codes: 0 allowed (every destination workload), 1 denied (any), 64 a bad query or bad
 * YAML; an agent that cannot be reached exits 1 too, with its message on stderr.
 */
import { loadMeshDirectory } from '../controller/registry/yaml-directory.js';
import { explainQuery, headersFromArgs, parseMode, parseQueryPort, queryToParams, type ExplainQuery, type ExplainResult } from '../mesh/authz/explain-query.js';
import { MeshletError } from '../mesh/errors.js';
import { adminClientFor, answerError, asObject, type AdminFlags } from './admin-client.js';
import { formatOutput, outputContext, type OutputFlags, type OutputIo } from './output.js';
import { renderExplanation } from './policy-render.js';

/** Flags of `policy explain`. */
export interface ExplainFlags extends AdminFlags, OutputFlags {
  readonly source?: string;
  readonly destination?: string;
  readonly port?: string;
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  readonly header?: readonly string[];
  readonly sni?: string;
  readonly mode?: string;
  /** Offline: a directory of mesh YAML. */
  readonly config?: string;
  readonly trustDomain?: string;
}

/** The query the flags ask; throws `MESHLET_ERR_CONFIG_INVALID` naming a bad flag. */
export function queryFromFlags(f: ExplainFlags): ExplainQuery {
  if (f.source === undefined) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', '--source: required (pod/NS/NAME, NS/NAME, a SPIFFE ID or an IP address)');
  if (f.destination === undefined) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', '--destination: required (svc/NS/NAME[:PORT], pod/NS/NAME or IP:PORT)');
  const headers = f.header ?? [];
  return {
    source: f.source,
    destination: f.destination,
    ...(f.port === undefined ? {} : { port: parseQueryPort('--port', f.port) }),
    ...(f.method === undefined ? {} : { method: f.method }),
    ...(f.path === undefined ? {} : { path: f.path }),
    ...(f.host === undefined ? {} : { host: f.host }),
    ...(headers.length === 0 ? {} : { headers: headersFromArgs(headers) }),
    ...(f.sni === undefined ? {} : { sni: f.sni }),
    ...(f.mode === undefined ? {} : { mode: parseMode('--mode', f.mode) }),
  };
}

/** Explains offline: the YAML directory read and checked as static mode does. */
export async function explainOffline(dir: string, trustDomain: string | undefined, query: ExplainQuery): Promise<ExplainResult> {
  const { state } = await loadMeshDirectory(dir, { trustDomain });
  return explainQuery(query, {
    trustDomain: state.trustDomain,
    workloads: state.workloads,
    services: state.services,
    authorizationPolicies: state.authorizationPolicies,
    unmeshed: state.members.filter((m) => !m.meshed),
  });
}

/** Explains through the agent's admin API; its 400 (a bad query) is a usage error here too. */
export async function explainOnline(flags: AdminFlags, query: ExplainQuery): Promise<ExplainResult> {
  const path = `/policy/explain?${queryToParams(query).toString()}`;
  const answer = await adminClientFor(flags).get(path);
  if (answer.status === 400) {
    const msg = (answer.body as { error?: unknown } | null)?.error;
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', typeof msg === 'string' ? msg : JSON.stringify(answer.body));
  }
  if (answer.status !== 200) throw answerError('/policy/explain', answer);
  const body = asObject('/policy/explain', answer.body);
  if (!Array.isArray(body['targets']) || typeof body['allowed'] !== 'boolean') throw new Error('/policy/explain: unexpected answer (no targets); is the agent the same version as this CLI?');
  return body as unknown as ExplainResult;
}

/** Runs `policy explain`; answers the exit code (0 allowed, 1 denied). */
export async function policyExplain(io: OutputIo, flags: ExplainFlags): Promise<number> {
  const ctx = outputContext(io, 'policy explain', flags);
  if (flags.trustDomain !== undefined && flags.config === undefined) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', '--trust-domain: only with --config (the agent knows its own)');
  const query = queryFromFlags(flags);
  const result = flags.config === undefined ? await explainOnline(flags, query) : await explainOffline(flags.config, flags.trustDomain, query);
  io.stdout(formatOutput(ctx, result, () => renderExplanation(result)));
  return result.allowed ? 0 : 1;
}
