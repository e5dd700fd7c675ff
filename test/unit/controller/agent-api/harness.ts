/**
 * Shared rig for the agent API tests: a CA and a controller certificate made with `src/ca`,
 * a fake state feed, authenticator and signer, the real server on 127.0.0.1:0, the real client,
 * and a raw agent for driving the stream by hand.
 */
import { PACKAGE_VERSION } from '../../../../src/ops/package-version.js';
import { generateKeyPair } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import { credentials, Metadata, type ClientDuplexStream, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { ControllerClient, type ControllerClientOptions } from '../../../../src/agent/control/client.js';
import { agentApiClientConstructor } from '../../../../src/agent/control/proto.js';
import { CONTROLLER_SERVER_NAME } from '../../../../src/agent/control/tls.js';
import type { NodeSnapshot } from '../../../../src/mesh/types.js';
import { CertificateAuthority } from '../../../../src/ca/authority.js';
import { issueServingCertificate } from '../../../../src/ca/serving-certificate.js';
import type { AgentAuthenticator, AgentPrincipal, NodeCertificateSigner, PublishedState, SignedChain, StateFeed } from '../../../../src/controller/contracts.js';
import { AgentApiServer, type AgentApiServerOptions } from '../../../../src/controller/agent-api/agent-api-server.js';
import { MeshletError } from '../../../../src/mesh/errors.js';
import type { ClusterState } from '../../../../src/mesh/cluster-types.js';
import { controllerIdentity } from '../../../../src/mesh/snapshot-wire/encode.js';
import { createCsr } from '../../../../src/mesh/x509.js';
import type { AgentApiClient } from '../../../../src/proto/generated/meshlet/v1/AgentApi.js';
import type { AgentMessage } from '../../../../src/proto/generated/meshlet/v1/AgentMessage.js';
import type { ControllerMessage__Output } from '../../../../src/proto/generated/meshlet/v1/ControllerMessage.js';
import type { Snapshot__Output } from '../../../../src/proto/generated/meshlet/v1/Snapshot.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** What a test needs of tap. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export const TRUST_DOMAIN = 'cluster.local';
export const silent = pino({ level: 'silent' });

/** A logger that keeps every line, to check what was logged and how often. */
export function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

/** A new RSA-2048 key, PKCS#8 PEM. */
export async function newKey(): Promise<string> {
  const { privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return privateKey;
}

/** The mesh CA and a controller certificate it issued. */
export interface Pki {
  readonly ca: CertificateAuthority;
  readonly tls: { readonly certPem: string; readonly keyPem: string; readonly trustBundlePem: string };
  /** A CSR for `identity` (with a fresh key). */
  csr(identity: string): Promise<string>;
  /** Key and chain for any identity, e.g. a server certificate that is not the controller's. */
  issue(identity: string): Promise<{ certPem: string; keyPem: string }>;
}

/** A CA in a temporary directory (removed on teardown) and the controller's certificate. */
export async function makePki(t: Teardown): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-agent-api-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TRUST_DOMAIN, logger: silent });
  const issue = async (identity: string): Promise<{ certPem: string; keyPem: string }> => {
    const keyPem = await newKey();
    return { keyPem, certPem: ca.sign(createCsr({ identity, privateKeyPem: keyPem }), { identity }).chainPem };
  };
  // A serving certificate, as the controller has (serverAuth only): agents refuse a workload leaf.
  const controller = await issueServingCertificate(ca, { identity: controllerIdentity(TRUST_DOMAIN) });
  return {
    ca,
    tls: { certPem: controller.chainPem, keyPem: controller.keyPem, trustBundlePem: ca.trustBundlePem },
    csr: async (identity) => createCsr({ identity, privateKeyPem: await newKey() }),
    issue,
  };
}

/** A StateFeed the test publishes into. */
export class FakeFeed implements StateFeed {
  private newest: PublishedState | undefined;
  private readonly listeners = new Set<(s: PublishedState) => void>();

  current(): PublishedState | undefined {
    return this.newest;
  }

  subscribe(fn: (s: PublishedState) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Publishes `state` as `version`. */
  publish(state: ClusterState, version: string, publishedAt = Date.now()): PublishedState {
    const published = { version, state, publishedAt };
    this.newest = published;
    for (const fn of this.listeners) fn(published);
    return published;
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}

/** Accepts `Bearer <token>` for the tokens it knows; records what it was asked. */
export class FakeAuthenticator implements AgentAuthenticator {
  readonly calls: { authorization?: string; node?: string }[] = [];
  constructor(private readonly tokens: Readonly<Record<string, string>>) {}

  async authenticate(creds: { readonly authorization?: string; readonly node?: string }): Promise<AgentPrincipal> {
    this.calls.push({ ...creds });
    const token = creds.authorization?.startsWith('Bearer ') ? creds.authorization.slice('Bearer '.length) : undefined;
    const node = token === undefined ? undefined : this.tokens[token];
    if (node === undefined) throw new MeshletError('MESHLET_ERR_UNAUTHENTICATED', 'unknown join token');
    return { node, method: 'join-token' };
  }
}

/** Signs with the real CA, only identities listed for the asking node. */
export class FakeSigner implements NodeCertificateSigner {
  readonly calls: { node: string; identity: string }[] = [];
  constructor(
    private readonly ca: CertificateAuthority,
    private readonly allowed: Readonly<Record<string, readonly string[]>>,
  ) {}

  async sign(node: string, csrPem: string, identity: string): Promise<SignedChain> {
    this.calls.push({ node, identity });
    if (!(this.allowed[node] ?? []).includes(identity)) {
      throw new MeshletError('MESHLET_ERR_CERT_NOT_AUTHORIZED', `no workload with identity ${identity} is scheduled on node ${node}`);
    }
    return { chainPem: this.ca.sign(csrPem, { identity }).chainPem, trustBundlePem: this.ca.trustBundlePem };
  }
}

/** Tokens of the tests: one per node. */
export const TOKENS: Readonly<Record<string, string>> = { 'token-a': 'node-a', 'token-b': 'node-b' };

/** A started server on 127.0.0.1, destroyed on teardown. */
export async function startServer(
  t: Teardown,
  pki: Pki,
  feed: StateFeed,
  extra: Partial<AgentApiServerOptions> & { port?: number } = {},
): Promise<{ server: AgentApiServer; address: string; port: number }> {
  const server = new AgentApiServer({
    feed,
    authenticator: new FakeAuthenticator(TOKENS),
    signer: new FakeSigner(pki.ca, {}),
    logger: silent,
    tls: pki.tls,
    trustDomain: TRUST_DOMAIN,
    ...extra,
  });
  t.teardown(() => server.destroy());
  const { port } = await server.start(extra.port ?? 0, '127.0.0.1');
  return { server, address: `127.0.0.1:${port}`, port };
}

/** A started ControllerClient recording the snapshots it applied, closed on teardown. */
export function startClient(
  t: Teardown,
  pki: Pki,
  address: string,
  extra: Partial<ControllerClientOptions> = {},
): { client: ControllerClient; applied: NodeSnapshot[] } {
  const applied: NodeSnapshot[] = [];
  const client = new ControllerClient({
    address,
    caPem: pki.ca.trustBundlePem,
    node: 'node-a',
    credentials: async () => 'token-a',
    trustDomain: TRUST_DOMAIN,
    logger: silent,
    onSnapshot: async (s) => {
      applied.push(s);
    },
    backoff: { initialMs: 20, maxMs: 200 },
    ...extra,
  });
  t.teardown(() => client.close());
  client.start();
  return { client, applied };
}

/** Polls `check` every 10 ms until it is true; fails after `timeoutMs`. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A raw gRPC client of the agent API that trusts the test CA. */
export function rawClient(t: Teardown, pki: Pki, address: string): AgentApiClient {
  const Client = agentApiClientConstructor();
  const client = new Client(address, credentials.createSsl(Buffer.from(pki.ca.trustBundlePem), null, null, { checkServerIdentity: () => undefined }), {
    'grpc.ssl_target_name_override': CONTROLLER_SERVER_NAME,
  });
  t.teardown(() => client.close());
  return client;
}

/** Call metadata with a token and a node. */
export function authMetadata(token: string | undefined, node = 'node-a'): Metadata {
  const md = new Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  md.set('x-meshlet-node', node);
  return md;
}

/** A config stream driven by hand: every snapshot received is kept; answers are the test's. */
export class RawAgent {
  readonly snapshots: Snapshot__Output[] = [];
  /** Every controller message, full snapshots and deltas, in order. */
  readonly messages: ControllerMessage__Output[] = [];
  readonly status: Promise<StatusObject>;
  headers = false;
  /** Resolves when the server's response headers arrive (the stream was accepted). */
  readonly accepted: Promise<void>;
  private readonly call: ClientDuplexStream<AgentMessage, ControllerMessage__Output>;

  constructor(t: Teardown, client: AgentApiClient, token: string | undefined, node = 'node-a') {
    this.call = client.StreamConfig(authMetadata(token, node));
    t.teardown(() => this.call.cancel());
    this.accepted = new Promise((resolve) =>
      this.call.on('metadata', () => {
        this.headers = true;
        resolve();
      }),
    );
    this.call.on('data', (m: ControllerMessage__Output) => {
      this.messages.push(m);
      if (m.snapshot) this.snapshots.push(m.snapshot);
    });
    this.call.on('error', () => undefined);
    this.status = new Promise((resolve) => this.call.on('status', resolve));
  }

  send(message: AgentMessage): void {
    this.call.write(message);
  }

  /**
   * A Hello; `deltaEncodings` as an agent that applies deltas lists them (none: an agent before
   * deltas), `capabilities` likewise (none: an agent before them).
   */
  hello(node = 'node-a', heldVersion = '', agentVersion = PACKAGE_VERSION, deltaEncodings: string[] = [], capabilities: string[] = []): void {
    this.send({ hello: { node, agentVersion, heldVersion, deltaEncodings, capabilities } });
  }

  ack(version: string): void {
    this.send({ ack: { version } });
  }

  nack(version: string, reason: string, resync = false): void {
    this.send({ nack: { version, reason, resync } });
  }

  /** Versions received so far. */
  get versions(): string[] {
    return this.snapshots.map((s) => s.version);
  }
}

/** Calls SignCertificate on a raw client. */
export function rawSign(client: AgentApiClient, token: string | undefined, csrPem: string, identity: string): Promise<{ chainPem: string } | ServiceError> {
  return new Promise((resolve) => {
    client.SignCertificate({ csrPem, identity }, authMetadata(token), (err, res) => resolve(err ?? { chainPem: res?.chainPem ?? '' }));
  });
}
