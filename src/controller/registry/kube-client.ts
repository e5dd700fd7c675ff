/**
 * Talking to the Kubernetes API: where it is and how to authenticate (a kubeconfig file, or
 * the pod's service account), and paged list requests that return the API's JSON untouched.
 *
 * Lists go through node:http(s) with the options `KubeConfig` applies (CA, client certificate,
 * bearer token), not through the typed API classes: those turn JSON into model classes
 * (timestamps become Dates, every absent field an `undefined` key), and the registry wants the
 * JSON the mesh parser is written for.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import { KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { MeshletError } from '../../mesh/errors.js';
import { isFields } from '../../mesh/validate/values.js';

/** Where a pod's service account credentials are mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** How to reach the API server. */
export interface KubeConnectionOptions {
  /** A kubeconfig file (`--kubeconfig`); without it, the pod's service account is used. */
  readonly kubeconfig?: string | undefined;
  /** The environment: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT locate the API in a pod. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where the service account token and CA are (tests); default {@link SERVICE_ACCOUNT_DIR}. */
  readonly serviceAccountDir?: string;
}

/**
 * A KubeConfig for the kubeconfig file, or for in-cluster access. Throws
 * MESHLET_ERR_CONFIG_INVALID naming the file or variable that is missing or wrong.
 */
export function loadKubeConfig(opts: KubeConnectionOptions): KubeConfig {
  const kc = new KubeConfig();
  if (opts.kubeconfig !== undefined) {
    try {
      kc.loadFromFile(opts.kubeconfig);
    } catch (err) {
      throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `kubeconfig ${opts.kubeconfig} cannot be used: ${(err as Error).message}`, { cause: err });
    }
    if (kc.getCurrentCluster() === null) {
      throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `kubeconfig ${opts.kubeconfig} has no current context with a cluster`);
    }
    return kc;
  }
  loadInCluster(kc, opts.env, opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  return kc;
}

/** The service account setup client-node's `loadFromCluster` makes, from an explicit environment. */
function loadInCluster(kc: KubeConfig, env: KubeConnectionOptions['env'], dir: string): void {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (host === undefined || host === '' || port === undefined || port === '') {
    throw new MeshletError(
      'MESHLET_ERR_CONFIG_INVALID',
      'in-cluster Kubernetes access needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (set in every pod); outside a pod, pass --kubeconfig FILE',
    );
  }
  const tokenFile = join(dir, 'token');
  const caFile = join(dir, 'ca.crt');
  for (const file of [tokenFile, caFile]) {
    if (!existsSync(file)) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `in-cluster Kubernetes access needs ${file}, which does not exist (is a service account token mounted?)`);
  }
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  kc.loadFromOptions({
    clusters: [{ name: 'in-cluster', server, caFile, skipTLSVerify: false }],
    // The tokenFile provider re-reads the file every minute: projected tokens rotate.
    users: [{ name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile } } }],
    contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster' }],
    currentContext: 'in-cluster',
  });
}

/** An answer other than 2xx from the API server. `statusCode` is what client-node's ListWatch checks for 410. */
export class KubeApiError extends MeshletError {
  readonly statusCode: number;

  constructor(statusCode: number, message: string) {
    super('MESHLET_ERR_REGISTRY', message);
    this.statusCode = statusCode;
  }
}

/** Limits of one request. */
export interface RequestLimits {
  /** Give up when the whole answer has not arrived by then. */
  readonly timeoutMs: number;
  /** Largest answer body read, in bytes. */
  readonly maxBytes: number;
}

/** Items per list page: client-go's default. Pages keep each answer (and our buffer) small. */
const PAGE_SIZE = 500;
/** Pages per list; 1,000 pages of 500 is far past any cluster meshlet will meet. */
const MAX_PAGES = 1_000;

/** Opens a request to the API server with the kubeconfig's TLS and credentials applied. */
export async function kubeRequest(kc: KubeConfig, path: string, signal?: AbortSignal, method = 'GET'): Promise<http.ClientRequest> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', 'the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET') headers['Content-Type'] = 'application/json';
  const opts: https.RequestOptions = { method, headers };
  if (signal !== undefined) opts.signal = signal;
  await kc.applyToHTTPSOptions(opts);
  return url.protocol === 'http:' ? http.request(url, opts) : https.request(url, opts);
}

/** GETs `path` and parses the JSON answer; a non-2xx answer is a {@link KubeApiError}. */
export async function getJson(kc: KubeConfig, path: string, limits: RequestLimits, signal?: AbortSignal): Promise<unknown> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const req = await kubeRequest(kc, path, signal === undefined ? timeout : AbortSignal.any([timeout, signal]));
  const { status, body } = await readAnswer(req, path, limits.maxBytes);
  if (status < 200 || status > 299) throw new KubeApiError(status, `GET ${path}: ${status} ${statusMessage(body)}`);
  try {
    return JSON.parse(body) as unknown;
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_REGISTRY', `GET ${path}: the answer is not JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * PUTs `body` as JSON to `path` (a status subresource update) and parses the JSON answer; a
 * non-2xx answer is a {@link KubeApiError} (409: someone wrote first, read again and retry).
 */
export async function putJson(kc: KubeConfig, path: string, body: unknown, limits: RequestLimits, signal?: AbortSignal): Promise<unknown> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const req = await kubeRequest(kc, path, signal === undefined ? timeout : AbortSignal.any([timeout, signal]), 'PUT');
  const answer = await readAnswer(req, path, limits.maxBytes, JSON.stringify(body), 'PUT');
  if (answer.status < 200 || answer.status > 299) throw new KubeApiError(answer.status, `PUT ${path}: ${answer.status} ${statusMessage(answer.body)}`);
  try {
    return JSON.parse(answer.body) as unknown;
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_REGISTRY', `PUT ${path}: the answer is not JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** Sends `req` (with `body`, if any) and reads the whole answer, at most `maxBytes`; every failure rejects once. */
function readAnswer(req: http.ClientRequest, path: string, maxBytes: number, body?: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error): void => reject(new MeshletError('MESHLET_ERR_REGISTRY', `${method} ${path}: ${err.message}`, { cause: err }));
    req.on('error', fail);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          // Rejected here, not by the request's 'error': the whole answer may have arrived in
          // this chunk, and the response then closes complete before the destroy is reported.
          const err = new Error(`answer larger than ${maxBytes} bytes`);
          fail(err);
          req.destroy(err);
        } else chunks.push(chunk);
      });
      res.on('error', fail);
      // 'close' without a complete body (a reset, an abort): rejecting twice is harmless.
      res.on('close', () => {
        if (res.complete) resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        else fail(new Error('the connection closed before the whole answer arrived'));
      });
    });
    req.end(body);
  });
}

/** The `message` of a `Status` body, or the start of whatever came. */
export function statusMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (isFields(parsed) && typeof parsed['message'] === 'string') return parsed['message'];
  } catch {
    // Not a Status: show the text itself.
  }
  return body.slice(0, 200);
}

/**
 * Lists a collection in pages (`limit` and `continue`), as ListWatch's list function: the items
 * of every page and the resourceVersion to watch from. `selectors` are added to every page's
 * query (`fieldSelector`, `labelSelector`).
 */
export async function listAll(
  kc: KubeConfig,
  path: string,
  limits: RequestLimits,
  signal?: AbortSignal,
  selectors: Readonly<Record<string, string>> = {},
): Promise<KubernetesListObject<KubernetesObject>> {
  const items: KubernetesObject[] = [];
  let token = '';
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = new URLSearchParams({ ...selectors, limit: String(PAGE_SIZE) });
    if (token !== '') query.set('continue', token);
    const list = await getJson(kc, `${path}?${query.toString()}`, limits, signal);
    const meta = isFields(list) ? list['metadata'] : undefined;
    const pageItems = isFields(list) ? list['items'] : undefined;
    if (!isFields(meta) || typeof meta['resourceVersion'] !== 'string' || !(Array.isArray(pageItems) || pageItems === null)) {
      throw new MeshletError('MESHLET_ERR_REGISTRY', `GET ${path}: not a Kubernetes list (no items or metadata.resourceVersion)`);
    }
    for (const item of pageItems ?? []) if (isFields(item) && isFields(item['metadata'])) items.push(item as KubernetesObject);
    token = typeof meta['continue'] === 'string' ? meta['continue'] : '';
    if (token === '') {
      const kind = isFields(list) && typeof list['kind'] === 'string' ? list['kind'] : 'List';
      return { apiVersion: 'v1', kind, metadata: { resourceVersion: meta['resourceVersion'] }, items };
    }
  }
  throw new MeshletError('MESHLET_ERR_REGISTRY', `GET ${path}: more than ${MAX_PAGES} pages`);
}
