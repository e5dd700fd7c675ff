/**
 * `meshlet policy explain` and the admin API's `/policy/explain`, as one pure function: a
 * query written by a person (`--source pod/demo/web --destination svc/demo/api:80 --path /x`)
 * resolved against the mesh's data (a snapshot, or a cluster state read offline) to the
 * attributes the data path would evaluate, for each destination workload, and the engine's
 * explanation of each. No I/O: the CLI reads the YAML or asks the agent, the admin server
 * reads its snapshot, and both hand the same data here.
 *
 * Every error is a MeshletError `MESHLET_ERR_CONFIG_INVALID` naming the query field and its
 * value: the admin API answers 400 with it, the CLI exits 64.
 */
import { hostPort } from '../address.js';
import type { PortProtocol } from '../port-protocol.js';
import { selectPolicies } from './select.js';
import { WorkloadAuthz } from './engine.js';
import { bad, HTTP_PROTOCOLS, quote, resolveDestination, resolveSource, workloadPortProtocol, type Destination, type ExplainData, type ExplainSource } from './explain-resolve.js';
import type { AuthzAttributes, AuthzExplanation, AuthzMode, AuthzRequestAttributes } from './types.js';

export { resolveDestination, resolveSource, type Destination, type ExplainData, type ExplainSource, type UnmeshedWorkload } from './explain-resolve.js';

/** What a person asks: who talks to what, and (for a request) the HTTP part. */
export interface ExplainQuery {
  /** `pod/NS/NAME`, `workload/NS/NAME`, `NS/NAME`, a SPIFFE ID, an IP address, `plaintext:<any of these>`. */
  readonly source: string;
  /** `pod/NS/NAME`, `NS/NAME`, `svc/NS/NAME[:PORT]`, `IP:PORT` (a Service VIP or a workload), `IP`. */
  readonly destination: string;
  /** The destination port (a Service port for a Service, else the workload's port). */
  readonly port?: number;
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  /** Header values by name (any case; lowercased here). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly sni?: string;
  /** Overrides the mode the query implies (see {@link explainQuery}). */
  readonly mode?: AuthzMode;
}


/** One destination workload and what was evaluated for it. */
export interface ExplainTarget {
  readonly workload: string;
  readonly node: string;
  readonly identity: string;
  readonly address: string;
  /** The workload's port. */
  readonly port: number;
  /** The Service and its port the destination named, when it named one. */
  readonly service?: string;
  readonly servicePort?: number;
  /** The port's declared protocol (`detect`: none declared, sniffed at run time). */
  readonly protocol: PortProtocol;
  readonly mode: AuthzMode;
  readonly attributes: AuthzAttributes;
  readonly explanation: AuthzExplanation;
  readonly notes: readonly string[];
}

/** `explain`'s whole answer. */
export interface ExplainResult {
  readonly source: ExplainSource;
  readonly destination: string;
  /** One per destination workload (a Service's meshed endpoints, in endpoint order). */
  readonly targets: readonly ExplainTarget[];
  /** True when every target allows. */
  readonly allowed: boolean;
}

/** A method is a short token (Istio compares it as written). */
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;
/** Header names: RFC 9110 tokens. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]{1,256}$/;
/** Paths, hosts, SNIs and header values: bounded, no control characters (they come from a URL or a flag). */
const MAX_PATH = 8192;
const MAX_HOST = 512;
const MAX_HEADER_VALUE = 8192;
/** More headers than any `explain` needs; bounds the work of a hostile admin request. */
const MAX_HEADERS = 64;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Resolves `query` and explains it for each destination workload. The mode is the query's
 * `mode` when given; else `request` when any HTTP field (method, path, host, a header) is
 * given (method defaults to `GET`, path to `/`, host to the Service's name or the address);
 * else `connection-http` on a port declared HTTP and `connection-opaque` otherwise.
 */
export function explainQuery(query: ExplainQuery, data: ExplainData): ExplainResult {
  const source = resolveSource(query.source, data);
  const request = requestPart(query);
  const destinations = resolveDestination(query.destination, query.port, data);
  const targets = destinations.map((d) => explainTarget(d, source, request, query, data));
  return { source, destination: query.destination, targets, allowed: targets.every((t) => t.explanation.verdict.allowed) };
}

/** The HTTP part of a query, validated; undefined when it has none. */
function requestPart(q: ExplainQuery): Partial<AuthzRequestAttributes> | undefined {
  if (q.sni !== undefined) checkText('sni', q.sni, MAX_HOST);
  const headers = q.headers === undefined ? undefined : checkHeaders(q.headers);
  if (q.method === undefined && q.path === undefined && q.host === undefined && headers === undefined) return undefined;
  if (q.method !== undefined && !METHOD.test(q.method)) throw bad(`method ${quote(q.method)}: want an HTTP method token (GET, POST, ...)`);
  if (q.path !== undefined) {
    checkText('path', q.path, MAX_PATH);
    if (!q.path.startsWith('/') || /\s/.test(q.path)) throw bad(`path ${quote(q.path)}: want a request target starting with / and no spaces`);
  }
  if (q.host !== undefined) checkText('host', q.host, MAX_HOST);
  return { method: q.method ?? 'GET', path: q.path ?? '/', ...(q.host === undefined ? {} : { host: q.host }), headers: headers ?? {} };
}

function checkText(what: string, value: string, max: number): void {
  if (value.length === 0 || value.length > max) throw bad(`${what} ${quote(value)}: want 1 to ${max} characters`);
  if (CONTROL.test(value) || (what !== 'path' && /\s/.test(value))) throw bad(`${what} ${quote(value)}: control characters or spaces are not allowed`);
}

function checkHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const entries = Object.entries(headers);
  if (entries.length > MAX_HEADERS) throw bad(`headers: ${entries.length} given, at most ${MAX_HEADERS}`);
  const out: Record<string, string> = {};
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    if (!HEADER_NAME.test(lower)) throw bad(`header ${quote(name)}: not a header name (letters, digits and !#$%&'*+.^_\`|~-)`);
    if (value.length > MAX_HEADER_VALUE || CONTROL.test(value.replace(/\t/g, ' '))) throw bad(`header ${name}: value longer than ${MAX_HEADER_VALUE} characters or with control characters`);
    if (Object.prototype.hasOwnProperty.call(out, lower)) throw bad(`header ${name}: given twice`);
    out[lower] = value;
  }
  return out;
}

/** The host a client would send: the Service's name (with the port unless 80), or the address. */
function defaultHost(d: Destination, data: ExplainData): string {
  if (d.service === undefined || d.servicePort === undefined) return hostPort(d.address, d.port);
  const name = `${d.service.name}.${d.service.namespace}.svc.${data.clusterDomain ?? 'cluster.local'}`;
  return d.servicePort.port === 80 ? name : `${name}:${d.servicePort.port}`;
}

/** Evaluates one destination workload. */
function explainTarget(d: Destination, source: ExplainSource, request: Partial<AuthzRequestAttributes> | undefined, q: ExplainQuery, data: ExplainData): ExplainTarget {
  const protocol = workloadPortProtocol(d, data);
  const notes: string[] = [];
  const mode: AuthzMode = q.mode ?? (request !== undefined ? 'request' : HTTP_PROTOCOLS.has(protocol) ? 'connection-http' : 'connection-opaque');
  if (mode === 'request' && protocol === 'tcp') notes.push(`port ${d.port} is declared opaque: the proxy never parses requests there, so what is enforced is the connection-opaque answer`);
  if (data.node !== undefined && d.workload.node !== data.node) notes.push(`${d.workload.uid} runs on node ${d.workload.node}: its agent enforces this, with the same policies if its snapshot is as recent`);
  if (mode !== 'request' && protocol === 'detect') notes.push(`port ${d.port} declares no protocol: a meshed client's source agent sniffs it and, if the traffic is HTTP, sends each request to be evaluated (give --method or --path to see one); a connection that arrives as bytes (plaintext) is evaluated as shown`);
  const attributes: AuthzAttributes = {
    ...(source.identity === undefined ? {} : { sourcePrincipal: source.identity }),
    ...(source.address === undefined ? {} : { sourceIp: source.address }),
    destinationIp: d.address,
    destinationPort: d.port,
    ...(q.sni === undefined ? {} : { sni: q.sni }),
    ...(mode === 'request' ? { request: { method: request?.method ?? 'GET', path: request?.path ?? '/', host: request?.host ?? defaultHost(d, data), headers: request?.headers ?? {} } } : {}),
  };
  const selected = selectPolicies(data.authorizationPolicies, d.workload, data.services);
  const explanation = WorkloadAuthz.compile(selected).explain(attributes, mode);
  return {
    workload: d.workload.uid,
    node: d.workload.node,
    identity: d.workload.identity,
    address: d.address,
    port: d.port,
    ...(d.service === undefined ? {} : { service: d.service.key }),
    ...(d.servicePort === undefined ? {} : { servicePort: d.servicePort.port }),
    protocol,
    mode,
    attributes,
    explanation,
    notes,
  };
}

/** The modes a query may force. */
export const AUTHZ_MODES: readonly AuthzMode[] = ['request', 'connection-http', 'connection-opaque'];

/** A query's port from text (a flag or a query parameter); throws naming `what`. */
export function parseQueryPort(what: string, text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw bad(`${what} ${quote(text)}: want a port number 1-65535`);
  return Number(text);
}

/** `name:value` (a `-H` flag, a `header=` parameter) as a name and a value; throws naming the text. */
export function parseHeaderArg(text: string): [name: string, value: string] {
  const colon = text.indexOf(':');
  if (colon <= 0) throw bad(`header ${quote(text)}: want name:value`);
  return [text.slice(0, colon).trim(), text.slice(colon + 1).trim()];
}

/** Headers from `name:value` texts, one object; a name given twice is an error. */
export function headersFromArgs(args: readonly string[]): Record<string, string> {
  if (args.length > MAX_HEADERS) throw bad(`headers: ${args.length} given, at most ${MAX_HEADERS}`);
  const out: Record<string, string> = {};
  for (const a of args) {
    const [name, value] = parseHeaderArg(a);
    const lower = name.toLowerCase();
    if (Object.prototype.hasOwnProperty.call(out, lower)) throw bad(`header ${name}: given twice`);
    out[lower] = value;
  }
  return out;
}

/** A mode from text; throws naming `what`. */
export function parseMode(what: string, text: string): AuthzMode {
  const m = AUTHZ_MODES.find((x) => x === text);
  if (m === undefined) throw bad(`${what} ${quote(text)}: want one of ${AUTHZ_MODES.join(', ')}`);
  return m;
}

/** The query parameters of `/policy/explain` (`header` may repeat; `format` is the admin API's own). */
const PARAMS: ReadonlySet<string> = new Set(['source', 'destination', 'port', 'method', 'path', 'host', 'header', 'sni', 'mode', 'format']);

/**
 * A query from URL parameters (the admin API's `/policy/explain`): `source` and `destination`
 * required, `header=name:value` repeatable, every other one at most once; an unknown
 * parameter is an error (a typo must not be explained as if it were absent).
 */
export function queryFromParams(params: URLSearchParams): ExplainQuery {
  for (const name of new Set(params.keys())) {
    if (!PARAMS.has(name)) throw bad(`unknown parameter ${quote(name)}: want ${[...PARAMS].filter((p) => p !== 'format').join(', ')}`);
    if (name !== 'header' && params.getAll(name).length > 1) throw bad(`parameter ${name}: given more than once`);
  }
  const one = (name: string): string | undefined => params.get(name) ?? undefined;
  const source = one('source');
  const destination = one('destination');
  if (source === undefined || destination === undefined) throw bad('source and destination are required (?source=pod/NS/NAME&destination=svc/NS/NAME:PORT)');
  const port = one('port');
  const mode = one('mode');
  const headers = params.getAll('header');
  const text = (name: 'method' | 'path' | 'host' | 'sni'): Partial<Record<typeof name, string>> => {
    const v = one(name);
    return v === undefined ? {} : { [name]: v };
  };
  return {
    source,
    destination,
    ...(port === undefined ? {} : { port: parseQueryPort('port', port) }),
    ...text('method'),
    ...text('path'),
    ...text('host'),
    ...text('sni'),
    ...(headers.length === 0 ? {} : { headers: headersFromArgs(headers) }),
    ...(mode === undefined ? {} : { mode: parseMode('mode', mode) }),
  };
}

/** The URL parameters of a query (what {@link queryFromParams} reads back). */
export function queryToParams(q: ExplainQuery): URLSearchParams {
  const params = new URLSearchParams({ source: q.source, destination: q.destination });
  if (q.port !== undefined) params.set('port', String(q.port));
  for (const name of ['method', 'path', 'host', 'sni', 'mode'] as const) {
    const v = q[name];
    if (v !== undefined) params.set(name, v);
  }
  for (const [name, value] of Object.entries(q.headers ?? {})) params.append('header', `${name}:${value}`);
  return params;
}
