/**
 * A small Kubernetes API server for tests, on 127.0.0.1:0, speaking the real list and watch
 * protocol with real object JSON:
 *
 * - `GET /api/v1/pods`, `/apis/meshlet.io/v1alpha1/workloads`, ... (also per namespace):
 *   `kind: PodList`, `metadata.resourceVersion`, `limit`/`continue` paging; core list items
 *   carry no `apiVersion`/`kind`, custom resource items do, as on a real server;
 * - `?watch=true&resourceVersion=N`: a chunked stream of JSON lines `{"type", "object"}`,
 *   replaying history after N (no N: synthetic ADDED for every object), BOOKMARKs when
 *   `allowWatchBookmarks` is set, `timeoutSeconds` honoured, and a too-old N answered with an
 *   `ERROR` event carrying a `Status` 410 (reason Expired), then the end of the stream;
 * - POST (create, 409 AlreadyExists) and PUT (replace, 409 Conflict on a stale resourceVersion);
 * - `fieldSelector=metadata.name=X` or `spec.nodeName=X`, and `labelSelector=k=v[,k=v]`, on
 *   lists and watches;
 * - websocket upgrades (`pods/NAME/portforward`, `pods/NAME/exec`) handed to {@link upgrades};
 * - bearer-token authentication (401 otherwise), Status bodies for every error.
 *
 * Test controls: apply/remove objects, cut watches (cleanly or abruptly), expire history
 * (force 410), send bookmarks, fail the next requests to a path, register extra routes (a
 * TokenReview endpoint, say), and a kubeconfig pointing here.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { apiVersionOf, FakeKubeStore, type FakeResource, type KubeJson, type StoredEvent } from './fake-kube-store.js';

export { DEFAULT_FAKE_RESOURCES, type FakeResource, type KubeJson } from './fake-kube-store.js';

/** Options of {@link FakeKubeApi.start}. */
export interface FakeKubeApiOptions {
  /** Bearer token every request must carry; undefined turns authentication off. Default `fake-token`. */
  readonly token?: string | undefined;
}

/** One request the fake served. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly watch: boolean;
  readonly authorization: string | undefined;
}

/** An extra route's answer. */
export interface RouteAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** An extra route: gets the request and its body text. */
export type RouteHandler = (req: IncomingMessage, body: string) => RouteAnswer | Promise<RouteAnswer>;

/** Serves an HTTP upgrade (a websocket) that passed authentication. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

interface OpenWatch {
  readonly resource: FakeResource;
  readonly namespace: string | undefined;
  readonly res: ServerResponse;
  readonly bookmarks: boolean;
  readonly stop: () => void;
}

/** A Status body, as the API server sends with every error. */
export function statusBody(code: number, reason: string, message: string): KubeJson {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

const REASONS: Readonly<Record<number, string>> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 410: 'Expired', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable' };

/** The fake API server. */
export class FakeKubeApi {
  readonly store = new FakeKubeStore();
  readonly requests: RecordedRequest[] = [];
  private readonly watches = new Set<OpenWatch>();
  private readonly routes = new Map<string, RouteHandler>();
  private readonly failures = new Map<string, { status: number; remaining: number }>();
  private readonly continues = new Map<string, { items: KubeJson[]; rev: number }>();
  private nextContinue = 0;
  private closed = false;
  private upgradeHandler: UpgradeHandler | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly token: string | undefined,
  ) {}

  /** Starts a fake on 127.0.0.1 with a free port. */
  static async start(opts: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const token = Object.hasOwn(opts, 'token') ? opts.token : 'fake-token';
    const api = new FakeKubeApi(server, `http://127.0.0.1:${port}`, token);
    server.on('request', (req, res) => void api.handle(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => api.upgrade(req, socket, head));
    return api;
  }

  /** Serves websocket upgrades with `handler` (after the bearer token is checked). */
  upgrades(handler: UpgradeHandler): void {
    this.upgradeHandler = handler;
  }

  // ---- objects ----

  /** Creates or replaces objects (ADDED / MODIFIED to watchers); returns the stored copies. */
  apply(...objects: KubeJson[]): KubeJson[] {
    return objects.map((o) => this.store.upsert(o));
  }

  /** Deletes an object by apiVersion, kind, namespace and name; returns whether it existed. */
  remove(apiVersion: string, kind: string, namespace: string, name: string): boolean {
    return this.store.remove(this.store.resourceOf({ apiVersion, kind }), namespace, name);
  }

  // ---- watch controls ----

  /** Open watches, of one resource (`pods`) or all. */
  activeWatches(resource?: string): number {
    return [...this.watches].filter((w) => resource === undefined || w.resource.resource === resource).length;
  }

  /** Ends every open watch: cleanly (the chunked stream ends) or abruptly (the socket is destroyed). */
  cutWatches(opts: { abrupt?: boolean } = {}): number {
    const all = [...this.watches];
    for (const w of all) {
      w.stop();
      if (opts.abrupt === true) w.res.destroy();
      else w.res.end();
    }
    return all.length;
  }

  /** Compacts history: a watch from any resourceVersion before now gets 410 Gone. */
  expireHistory(): void {
    this.store.compact();
  }

  /** Sends a BOOKMARK at the current revision to every watch that allows them; returns how many. */
  bookmark(): number {
    let sent = 0;
    for (const w of this.watches) {
      if (!w.bookmarks) continue;
      const object = { kind: w.resource.kind, apiVersion: apiVersionOf(w.resource), metadata: { resourceVersion: String(this.store.rev) } };
      w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
      sent++;
    }
    return sent;
  }

  /** The next `count` requests (list or watch) to `path` get a Status error with `status`. */
  failNext(path: string, status: number, count = 1): void {
    this.failures.set(path, { status, remaining: count });
  }

  /** Serves `handler` for `method path` (exact path, before the built-in routes). */
  route(method: string, path: string, handler: RouteHandler): void {
    this.routes.set(`${method.toUpperCase()} ${path}`, handler);
  }

  /** Requests recorded so far for `path`, lists or watches. */
  requestsTo(path: string, kind: 'list' | 'watch'): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path && r.watch === (kind === 'watch'));
  }

  // ---- client configuration ----

  /** A kubeconfig for this server (plain HTTP, so TLS verification is off by necessity). */
  kubeconfig(): string {
    const user = this.token === undefined ? '{}' : `{ token: ${this.token} }`;
    return [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{ name: fake, cluster: { server: "${this.url}", insecure-skip-tls-verify: true } }]`,
      `users: [{ name: fake, user: ${user} }]`,
      'contexts: [{ name: fake, context: { cluster: fake, user: fake } }]',
      'current-context: fake',
      '',
    ].join('\n');
  }

  /** Writes {@link kubeconfig} to `dir/kubeconfig` and returns its path. */
  async writeKubeconfig(dir: string): Promise<string> {
    const path = join(dir, 'kubeconfig');
    await writeFile(path, this.kubeconfig());
    return path;
  }

  /** Stops the server and every open watch. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cutWatches({ abrupt: true });
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- serving ----

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), watch: false, authorization: req.headers.authorization });
    socket.on('error', () => undefined);
    const refuse = (status: number, message: string): void => {
      const text = JSON.stringify(statusBody(status, REASONS[status] ?? 'Unknown', message));
      socket.end(`HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
    };
    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) return refuse(401, 'Unauthorized');
    if (this.upgradeHandler === undefined) return refuse(404, 'the fake serves no upgrade here');
    this.upgradeHandler(req, socket, head);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const query = Object.fromEntries(url.searchParams);
    const watch = query['watch'] === 'true' || query['watch'] === '1';
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query, watch, authorization: req.headers.authorization });
    try {
      const body = await readBody(req);
      if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) return send(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
      const route = this.routes.get(`${req.method ?? 'GET'} ${url.pathname}`);
      if (route !== undefined) {
        const answer = await route(req, body);
        return send(res, answer.status, answer.body);
      }
      const failure = this.failures.get(url.pathname);
      if (failure !== undefined && failure.remaining > 0) {
        failure.remaining--;
        return send(res, failure.status, statusBody(failure.status, REASONS[failure.status] ?? 'Unknown', `injected failure ${failure.status}`));
      }
      if (req.method === 'POST' || req.method === 'PUT') return this.serveWrite(req.method, url.pathname, body, res);
      if (req.method !== 'GET') return send(res, 405, statusBody(405, 'MethodNotAllowed', `${req.method ?? ''} is not supported by the fake`));
      this.serveResource(url.pathname, query, watch, res);
    } catch (err) {
      send(res, 500, statusBody(500, 'InternalError', (err as Error).message));
    }
  }

  private serveResource(path: string, query: Record<string, string>, watch: boolean, res: ServerResponse): void {
    const target = this.parsePath(path);
    if (target === undefined) return send(res, 404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
    const { resource, namespace, name } = target;
    if (name !== undefined) {
      const obj = this.store.get(resource, namespace ?? '', name);
      if (obj === undefined) return send(res, 404, statusBody(404, 'NotFound', `${resource.resource} "${name}" not found`));
      return send(res, 200, obj);
    }
    if (watch) return this.serveWatch(resource, namespace, query, res);
    this.serveList(resource, namespace, query, res);
  }

  /**
   * POST to a collection creates (409 AlreadyExists when the name is taken); PUT to an object
   * replaces it, with the API server's optimistic concurrency: a stale `resourceVersion` is 409
   * Conflict, none at all is accepted (an unconditional update).
   */
  private serveWrite(method: 'POST' | 'PUT', path: string, text: string, res: ServerResponse): void {
    const target = this.parsePath(path);
    if (target === undefined || (method === 'POST') !== (target.name === undefined)) return send(res, 404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
    const { resource, namespace } = target;
    const obj = JSON.parse(text) as KubeJson;
    const m = { ...(obj['metadata'] as KubeJson | undefined) };
    const name = target.name ?? String(m['name'] ?? '');
    if (namespace !== undefined) m['namespace'] = namespace;
    const current = this.store.get(resource, namespace ?? '', name);
    if (method === 'POST' && current !== undefined) return send(res, 409, statusBody(409, 'AlreadyExists', `${resource.resource} "${name}" already exists`));
    if (method === 'PUT' && current === undefined) return send(res, 404, statusBody(404, 'NotFound', `${resource.resource} "${name}" not found`));
    const sent = m['resourceVersion'];
    if (method === 'PUT' && sent !== undefined && sent !== (current?.['metadata'] as KubeJson)['resourceVersion']) {
      return send(res, 409, statusBody(409, 'Conflict', `Operation cannot be fulfilled on ${resource.resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`));
    }
    const stored = this.store.upsert({ ...obj, apiVersion: apiVersionOf(resource), kind: resource.kind, metadata: { ...m, name } });
    send(res, method === 'POST' ? 201 : 200, stored);
  }

  /** `/api/v1[/namespaces/NS]/RES[/NAME]`, `/apis/G/V[/namespaces/NS]/RES[/NAME]`. */
  private parsePath(path: string): { resource: FakeResource; namespace: string | undefined; name: string | undefined } | undefined {
    const parts = path.split('/').filter((p) => p !== '');
    let group = '';
    let rest: string[];
    let version: string | undefined;
    if (parts[0] === 'api') [version, ...rest] = parts.slice(1);
    else if (parts[0] === 'apis') [group = '', version, ...rest] = parts.slice(1);
    else return undefined;
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const resource = this.store.resources.find((r) => r.group === group && r.version === version && r.resource === rest[0]);
    if (resource === undefined || rest.length > 2 || (namespace !== undefined && !resource.namespaced)) return undefined;
    return { resource, namespace, name: rest[1] };
  }

  private serveList(resource: FakeResource, namespace: string | undefined, query: Record<string, string>, res: ServerResponse): void {
    let items: KubeJson[];
    let rev: number;
    const token = query['continue'];
    if (token !== undefined && token !== '') {
      const saved = this.continues.get(token);
      if (saved === undefined || saved.rev < this.store.compactedRev) {
        return send(res, 410, statusBody(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.'));
      }
      this.continues.delete(token);
      ({ items, rev } = saved);
    } else {
      rev = this.store.rev;
      // Core objects in a list carry no apiVersion/kind; custom resources (served unstructured) do.
      items = this.store.list(resource, namespace).filter(byFieldSelector(query)).map((o) => (resource.group === '' ? withoutTypeMeta(o) : o));
    }
    const limit = Number(query['limit'] ?? '0');
    const metadata: KubeJson = { resourceVersion: String(rev) };
    if (limit > 0 && items.length > limit) {
      const next = `c${++this.nextContinue}`;
      this.continues.set(next, { items: items.slice(limit), rev });
      metadata['continue'] = next;
      metadata['remainingItemCount'] = items.length - limit;
      items = items.slice(0, limit);
    }
    send(res, 200, { kind: `${resource.kind}List`, apiVersion: apiVersionOf(resource), metadata, items });
  }

  private serveWatch(resource: FakeResource, namespace: string | undefined, query: Record<string, string>, res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    const write = (type: string, object: KubeJson): void => {
      if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const selected = byFieldSelector(query);
    const inScope = (o: KubeJson): boolean => (namespace === undefined || (o['metadata'] as KubeJson | undefined)?.['namespace'] === namespace) && selected(o);
    const rv = query['resourceVersion'] ?? '';
    if (rv === '' || rv === '0') {
      for (const o of this.store.list(resource, namespace).filter(selected)) write('ADDED', o);
    } else {
      const past = this.store.eventsSince(resource, Number(rv));
      if (past === 'expired') {
        write('ERROR', statusBody(410, 'Expired', `too old resource version: ${rv} (${this.store.compactedRev})`));
        res.end();
        return;
      }
      for (const e of past) if (inScope(e.object)) write(e.type, e.object);
    }
    const unsubscribe = this.store.onEvent((e: StoredEvent) => {
      if (e.resource === resource && inScope(e.object)) write(e.type, e.object);
    });
    const seconds = Number(query['timeoutSeconds'] ?? '0');
    const timer = seconds > 0 ? setTimeout(() => res.end(), seconds * 1000) : undefined;
    const entry: OpenWatch = {
      resource,
      namespace,
      res,
      bookmarks: query['allowWatchBookmarks'] === 'true',
      stop: () => {
        clearTimeout(timer);
        unsubscribe();
        this.watches.delete(entry);
      },
    };
    this.watches.add(entry);
    res.on('close', entry.stop);
  }
}

/**
 * `fieldSelector=metadata.name=X` or `spec.nodeName=X` (the field selectors the fake knows;
 * others match all) and `labelSelector=k=v[,k=v]` (equality only).
 */
function byFieldSelector(query: Record<string, string>): (o: KubeJson) => boolean {
  const field = /^(metadata\.name|spec\.nodeName)=(.*)$/.exec(query['fieldSelector'] ?? '');
  const labels = (query['labelSelector'] ?? '').split(',').filter((l) => l !== '').map((l) => l.split('='));
  return (o) => {
    const meta = (o['metadata'] ?? {}) as KubeJson;
    if (field?.[1] === 'metadata.name' && meta['name'] !== field[2]) return false;
    if (field?.[1] === 'spec.nodeName' && ((o['spec'] ?? {}) as KubeJson)['nodeName'] !== field[2]) return false;
    const have = (meta['labels'] ?? {}) as Record<string, unknown>;
    return labels.every(([k, v]) => k !== undefined && have[k] === v);
  };
}

function withoutTypeMeta(o: KubeJson): KubeJson {
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** A request body, at most 1 MiB (the fake serves tests, not uploads). */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > 1024 * 1024) req.destroy(new Error('request body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}
