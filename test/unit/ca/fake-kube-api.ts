/**
 * A tiny fake Kubernetes API server on 127.0.0.1:0 for tests of code that uses
 * `@kubernetes/client-node`: the test answers each request; every request is recorded; a
 * kubeconfig points at it. Closed in `t.teardown`.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

/** A request the fake received. */
export interface FakeRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  /** The JSON body, parsed (undefined for none). */
  readonly body: unknown;
}

/** What to answer: a status and a JSON body, or `hang` to never answer. */
export type FakeAnswer = { status: number; body: unknown } | 'hang';

/** The minimal part of a tap test the fake needs. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A kubeconfig for a server at `url`, authenticating with a static bearer token. */
export function kubeConfigFor(url: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'controller', token: 'controller-sa-token' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'controller' }],
    currentContext: 'fake',
  });
  return kc;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

/** Starts the fake; `answer` decides every response. */
export async function fakeKubeApi(
  t: Teardown,
  answer: (req: FakeRequest) => FakeAnswer,
): Promise<{ kubeConfig: KubeConfig; requests: FakeRequest[]; url: string }> {
  const requests: FakeRequest[] = [];
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const r: FakeRequest = { method: req.method ?? '', path: (req.url ?? '').split('?')[0] ?? '', authorization: req.headers.authorization, body };
      requests.push(r);
      const a = answer(r);
      if (a === 'hang') return;
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(a.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { kubeConfig: kubeConfigFor(url), requests, url };
}

/** A kubeconfig pointing at a port nothing listens on: the API server is down. */
export async function downKubeConfig(): Promise<KubeConfig> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return kubeConfigFor(`http://127.0.0.1:${port}`);
}

/** A Kubernetes `Status` error body, as the API server sends with a 4xx/5xx. */
export function status(code: number, reason: string, message: string): { status: number; body: unknown } {
  return { status: code, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code } };
}
