/**
 * What the controller accepts on :15012 (`proto/meshlet/v1/agent.proto`): the request
 * messages as grpc-js decodes them, then the server's handling of their fields, called
 * directly: a config stream's Hello/Ack/Nack sequence (`ConfigStream`), a SignRequest's CSR and
 * identity (`CertificateAuthority.sign`, what `ControllerCertSigner` calls), and the bearer
 * token in the metadata (`bearerToken`). Any agent with a valid token (or none) sends these.
 */
import { agentVersionRefusal } from '../../../src/controller/agent-api/version-skew.js';
import fc from 'fast-check';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, status } from '@grpc/grpc-js';
import forge from 'node-forge';
import { pino } from 'pino';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { agentApiService } from '../../../src/controller/agent-api/agent-api-proto.js';
import { ClusterViewCache } from '../../../src/controller/agent-api/cluster-view-cache.js';
import { ViewHistory } from '../../../src/controller/agent-api/view-history.js';
import { CLUSTER_DELTA_ENCODING } from '../../../src/mesh/snapshot-wire/delta-types.js';
import { ConfigStream, type ConfigCall, type ConfigStreamHost } from '../../../src/controller/agent-api/config-stream.js';
import { toServiceError } from '../../../src/controller/agent-api/grpc-status.js';
import { NodeStatsRecord } from '../../../src/controller/agent-api/node-stats.js';
import { bearerToken, MAX_TOKEN_LENGTH } from '../../../src/controller/auth/bearer-token.js';
import type { PublishedState } from '../../../src/controller/contracts.js';
import { buildClusterState } from '../../../src/mesh/cluster-state.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import { certificateInfo, createCsr } from '../../../src/mesh/x509.js';
import type { AgentMessage__Output } from '../../../src/proto/generated/meshlet/v1/AgentMessage.js';
import type { SignRequest__Output } from '../../../src/proto/generated/meshlet/v1/SignRequest.js';
import { bytesCodec, textCodec, typedValueCodec } from '../corpus.js';
import { holds, noThrow, onlyMeshletError, PropertyBroken, same } from '../expect.js';
import { meshYamlFiles } from '../fixtures.js';
import { edgeValue, mutatedBytes, mutatedText } from '../mutate.js';
import { property, type FuzzTarget } from '../fuzz-property.js';

const NODE = 'node-a';
/** The controller version the fuzzed streams are judged against (the skew policy's input). */
const CONTROLLER_VERSION = '0.1.0';
const IDENTITY = 'spiffe://cluster.local/ns/demo/sa/web';
const silent = pino({ level: 'silent' });
const MAX_REASON_CHARS = 2_000;

/** A config stream's call, without a network: records what the server writes and its status. */
class FakeCall extends EventEmitter {
  readonly metadata = new Metadata();
  cancelled = false;
  readonly written: unknown[] = [];
  status: { code?: number | undefined; details?: string | undefined } | undefined;
  ended = false;

  constructor() {
    super();
    this.on('error', (e: { code?: number; details?: string }) => {
      this.status ??= { code: e.code, details: e.details };
    });
  }

  getPeer(): string {
    return 'ipv4:127.0.0.1:1';
  }
  sendMetadata(): void {}
  write(m: unknown): boolean {
    this.written.push(m);
    return true;
  }
  end(): void {
    this.ended = true;
  }
}

/** One event of a stream: a message from the agent, or a new state published meanwhile. */
type StreamEvent = { readonly agent: unknown } | { readonly publish: number };

/** The shape grpc-js (proto-loader: oneofs, defaults) hands the server for an AgentMessage. */
function checkAgentMessageShape(m: AgentMessage__Output): void {
  holds(m.message === undefined || m.message === 'hello' || m.message === 'ack' || m.message === 'nack', `oneof message ${String(m.message)}`);
  if (m.message !== undefined) holds(m[m.message] !== null && m[m.message] !== undefined, `oneof ${m.message} without its message`);
  if (m.hello) for (const k of ['node', 'agentVersion', 'heldVersion'] as const) holds(typeof m.hello[k] === 'string', `hello.${k} not a string`);
  if (m.hello) holds(Array.isArray(m.hello.deltaEncodings) && m.hello.deltaEncodings.every((e) => typeof e === 'string'), 'hello.deltaEncodings not a list of strings');
  if (m.nack) holds(typeof m.nack.resync === 'boolean', 'nack.resync not a boolean');
  if (m.ack) holds(typeof m.ack.version === 'string', 'ack.version not a string');
  if (m.nack) holds(typeof m.nack.version === 'string' && typeof m.nack.reason === 'string', 'nack fields not strings');
}

/** Drives one ConfigStream through `events`; checks the server's answers. */
function checkStream(events: readonly StreamEvent[], published: readonly PublishedState[]): void {
  const call = new FakeCall();
  let accepted = 0;
  let ended = 0;
  const pushes: string[] = [];
  const host: ConfigStreamHost = {
    logger: silent,
    views: new ClusterViewCache(),
    history: new ViewHistory(),
    trustBundlePem: 'bundle',
    onPush: (o) => pushes.push(o.outcome),
    helloTimeoutMs: 600_000,
    agentVersionRefusal: (v) => agentVersionRefusal(v, CONTROLLER_VERSION),
    accepted: (stream, hello) => {
      accepted += 1;
      stream.begin(published[0], hello.heldVersion);
    },
    ended: () => {
      ended += 1;
    },
  };
  const stats = new NodeStatsRecord(NODE);
  const stream = new ConfigStream(call as unknown as ConfigCall, { node: NODE, method: 'join-token' }, stats, host);
  let first: unknown;
  let sawMessage = false;
  for (const e of events) {
    if ('publish' in e) {
      const p = published[e.publish % published.length];
      if (p !== undefined && accepted > 0) noThrow(() => stream.offer(p), 'ConfigStream.offer');
      continue;
    }
    if (!sawMessage) first = e.agent;
    sawMessage = true;
    noThrow(() => call.emit('data', e.agent), 'ConfigStream on a message');
  }
  noThrow(() => call.emit('close'), 'ConfigStream on close');
  same(ended, 1, 'ended once');
  const f = first as Partial<AgentMessage__Output> | undefined;
  const ownHello = f?.message === 'hello' && typeof f.hello === 'object' && f.hello !== null && f.hello.node === NODE;
  const refused = ownHello && agentVersionRefusal(typeof f.hello?.agentVersion === 'string' ? f.hello.agentVersion.slice(0, 64) : '', CONTROLLER_VERSION) !== undefined;
  const goodHello = ownHello && !refused;
  same(accepted, goodHello ? 1 : 0, 'accepted exactly when the first message is a Hello for the authenticated node, from an agent version the skew policy serves');
  if (refused) {
    same(call.status?.code, status.FAILED_PRECONDITION, 'an agent outside the version-skew policy is refused with FAILED_PRECONDITION');
  } else if (sawMessage && !goodHello) {
    holds(call.status?.code === status.INVALID_ARGUMENT || call.status?.code === status.PERMISSION_DENIED, `a bad first message ended with status ${String(call.status?.code)}`);
  }
  holds(call.written.length <= 1 + pushes.length, `${call.written.length} snapshots sent for ${pushes.length} answers: more than one in flight`);
  holds((stats.lastNackReason?.length ?? 0) <= MAX_REASON_CHARS, `a NACK reason of ${stats.lastNackReason?.length} characters kept`);
}

function version(): fc.Arbitrary<string> {
  return fc.oneof(fc.constantFrom('v1', 'v2', ''), fc.string({ maxLength: 8 }));
}

/** Decoded AgentMessages, consistent or not in their oneof. */
function agentMessage(): fc.Arbitrary<unknown> {
  const hello = fc.record({ node: fc.oneof(fc.constantFrom(NODE, 'node-b', '', 'NODE-A', `${NODE}\u0000`), fc.string({ maxLength: 300 })), agentVersion: fc.oneof(fc.constantFrom(CONTROLLER_VERSION, '0.0.9', '0.2.0', '1.1.0', '', '0.1.0-rc.1'), fc.string({ maxLength: 20 })), heldVersion: version(), deltaEncodings: fc.oneof(fc.constant([]), fc.constant([CLUSTER_DELTA_ENCODING]), fc.array(fc.oneof(fc.constant(CLUSTER_DELTA_ENCODING), fc.string({ maxLength: 40 })), { maxLength: 4 })) });
  const ack = fc.record({ version: version() });
  const nack = fc.record({ version: version(), reason: fc.oneof(fc.string({ maxLength: 40 }), fc.nat({ max: 10_000 }).map((n) => 'x'.repeat(n))), resync: fc.boolean() });
  return fc.oneof(
    { weight: 4, arbitrary: fc.oneof(hello.map((h) => ({ hello: h, ack: null, nack: null, message: 'hello' })), ack.map((a) => ({ hello: null, ack: a, nack: null, message: 'ack' })), nack.map((n) => ({ hello: null, ack: null, nack: n, message: 'nack' }))) },
    { weight: 1, arbitrary: fc.record({ hello: fc.option(hello), ack: fc.option(ack), nack: fc.option(nack), message: fc.oneof(fc.constantFrom('hello', 'ack', 'nack', 'snapshot', 'toString', '__proto__'), fc.constant(undefined)) }, { requiredKeys: [] }) },
    // grpc-js hands the handler an object for every message; its fields may be anything.
    { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('message', 'hello', 'ack', 'nack', 'node', 'version'), edgeValue(), { maxKeys: 3 }) },
  );
}

function streamEvents(): fc.Arbitrary<StreamEvent[]> {
  return fc.array(fc.oneof({ weight: 5, arbitrary: agentMessage().map((agent): StreamEvent => ({ agent })) }, { weight: 1, arbitrary: fc.nat({ max: 3 }).map((publish): StreamEvent => ({ publish })) }), { maxLength: 8 });
}

/** The CA the SignRequest property signs with, and a valid CSR for {@link IDENTITY}. */
async function signingFixture(): Promise<{ ca: CertificateAuthority; csrPem: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-fuzz-ca-'));
  try {
    const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: 'cluster.local', logger: silent });
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    return { ca, csrPem: createCsr({ identity: IDENTITY, privateKeyPem: privateKey }) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What the server does with a SignRequest's fields once the node may have the identity. */
function checkSign(ca: CertificateAuthority, csrPem: string, identity: string): void {
  if (csrPem === '' || identity === '') return; // refused before any parsing (agent-api-server.ts)
  let issued;
  try {
    issued = ca.sign(csrPem, { identity });
  } catch (err) {
    if (!isMeshletError(err, 'MESHLET_ERR_CERT')) {
      throw new PropertyBroken(`CertificateAuthority.sign threw ${err instanceof Error ? `${err.constructor.name}: ${err.message.split('\n')[0]}` : String(err)} (want MESHLET_ERR_CERT)`, { cause: err });
    }
    same(toServiceError(err).code, status.INVALID_ARGUMENT, 'a bad CSR is INVALID_ARGUMENT for the agent');
    return;
  }
  same(certificateInfo(issued.chainPem).identities, [identity], 'an issued certificate names exactly the identity asked for');
}

/** A CSR's DER with byte edits, as PEM again: gets past the PEM layer into ASN.1 and the key. */
function derOf(csrPem: string): Uint8Array {
  return new Uint8Array(Buffer.from(forge.pem.decode(csrPem)[0]?.body ?? '', 'binary'));
}

function pemOf(der: Uint8Array): string {
  return forge.pem.encode({ type: 'CERTIFICATE REQUEST', body: Buffer.from(der).toString('binary') });
}

const PEM_TOKENS = ['-----BEGIN CERTIFICATE REQUEST-----\n', '-----END CERTIFICATE REQUEST-----\n', '-----BEGIN RSA PRIVATE KEY-----\n', 'Proc-Type: 4,ENCRYPTED\n', '\n', '=', 'A', '/', '+', 'MII'];

function identity(): fc.Arbitrary<string> {
  return fc.oneof({ weight: 4, arbitrary: fc.constant(IDENTITY) }, { weight: 1, arbitrary: fc.constantFrom('spiffe://cluster.local/ns/demo/sa/db', 'spiffe://evil/ns/demo/sa/web', 'spiffe://cluster.local/ns/meshlet-system/sa/meshlet-controller', '') }, { weight: 1, arbitrary: fc.string({ maxLength: 60 }) });
}

function checkAuthorization(header: string): void {
  const token = onlyMeshletError(() => bearerToken(header), ['MESHLET_ERR_UNAUTHENTICATED']);
  if (token === undefined) return;
  holds(/^[A-Za-z0-9\-._~+/]+=*$/.test(token), `token ${JSON.stringify(token.slice(0, 40))} outside the token alphabet`);
  holds(token.length <= MAX_TOKEN_LENGTH, `a token of ${token.length} characters`);
  holds(header.includes(token), 'a token that is not in the header');
}

/** The controller's agent API. */
export async function agentApiTarget(): Promise<FuzzTarget> {
  const service = agentApiService();
  const decodeAgentMessage = (b: Uint8Array): AgentMessage__Output => service.StreamConfig.requestDeserialize(Buffer.from(b));
  const decodeSignRequest = (b: Uint8Array): SignRequest__Output => service.SignCertificate.requestDeserialize(Buffer.from(b));
  const encodeAgentMessage = (m: object): Uint8Array => new Uint8Array(service.StreamConfig.requestSerialize(m as never));
  const validMessages = [
    encodeAgentMessage({ hello: { node: NODE, agentVersion: '0.1.0', heldVersion: 'v1' } }),
    encodeAgentMessage({ ack: { version: 'v1' } }),
    encodeAgentMessage({ nack: { version: 'v2', reason: 'cluster.workloads[0].addresses[0]: "x" is not an IP address' } }),
  ];
  const objects = meshYamlFiles()
    .filter((f) => f.name.includes('two-node'))
    .flatMap((f) => parseObjects(f.text, f.name));
  const state = buildClusterState(objects);
  const published: PublishedState[] = ['v1', 'v2', 'v3'].map((v, i) => ({ version: v, state, publishedAt: 1_700_000_000_000 + i }));
  const { ca, csrPem } = await signingFixture();
  const validSign = new Uint8Array(service.SignCertificate.requestSerialize({ csrPem, identity: IDENTITY }));
  const der = derOf(csrPem);

  /** Bytes as grpc-js would decode them; undefined when it would refuse them (the library's INTERNAL). */
  const tryDecode = <T>(decode: (b: Uint8Array) => T, b: Uint8Array): T | undefined => {
    try {
      return decode(b);
    } catch {
      return undefined;
    }
  };
  const anyBytes = (valid: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> => fc.oneof({ weight: 3, arbitrary: mutatedBytes(valid) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) });

  return {
    name: 'agent-api',
    description: 'controller :15012 requests: AgentMessage/SignRequest decoding, ConfigStream, CSR signing, bearer tokens',
    properties: [
      property({
        name: 'stream-messages',
        weight: 3,
        arbitrary: streamEvents(),
        check: (events) => checkStream(events, published),
        codec: typedValueCodec<StreamEvent[]>(),
      }),
      property({
        name: 'stream-bytes',
        weight: 3,
        arbitrary: fc.array(anyBytes(validMessages), { minLength: 1, maxLength: 5 }),
        check: (frames) => {
          const events: StreamEvent[] = [];
          for (const frame of frames) {
            const m = tryDecode(decodeAgentMessage, frame);
            if (m === undefined) break; // grpc-js ends the call on a message it cannot decode
            checkAgentMessageShape(m);
            events.push({ agent: m });
          }
          checkStream(events, published);
        },
        codec: typedValueCodec<Uint8Array[]>(),
        seeds: () => [validMessages],
      }),
      property({
        name: 'sign-request-bytes',
        weight: 1,
        arbitrary: anyBytes([validSign]),
        check: (bytes) => {
          const req = tryDecode(decodeSignRequest, bytes);
          if (req === undefined) return;
          holds(typeof req.csrPem === 'string' && typeof req.identity === 'string', 'SignRequest fields not strings');
          checkSign(ca, req.csrPem, req.identity);
        },
        codec: bytesCodec,
        seeds: () => [validSign],
      }),
      property({
        name: 'csr',
        weight: 2,
        arbitrary: fc.tuple(fc.oneof(mutatedText([csrPem], PEM_TOKENS, 3), mutatedBytes([der]).map(pemOf)), identity()),
        check: ([pem, id]) => checkSign(ca, pem, id),
        codec: typedValueCodec<readonly [string, string]>(),
        seeds: () => [[csrPem, IDENTITY] as const],
      }),
      property({
        name: 'authorization',
        weight: 2,
        arbitrary: fc.oneof(
          fc.string({ maxLength: 60 }),
          fc.tuple(fc.constantFrom('Bearer ', 'bearer  ', ' BEARER\t', 'Basic ', 'Bearer', ''), fc.string({ maxLength: 60 }), fc.constantFrom('', ' ', '\n', '==')).map((p) => p.join('')),
          fc.nat({ max: 9000 }).map((n) => `Bearer ${'a'.repeat(n)}`),
        ),
        check: checkAuthorization,
        codec: textCodec('.txt'),
      }),
    ],
  };
}
