/**
 * The agent's connection to the controller: the config stream (snapshots in, ACK/NACK out) and
 * certificate signing, over one TLS channel. It reconnects forever with jittered exponential
 * backoff; while the controller is away the agent keeps serving with what it has.
 */
import { PACKAGE_VERSION } from '../../ops/package-version.js';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { MeshletError } from '../../mesh/errors.js';
import type { SignResponse__Output } from '../../proto/generated/meshlet/v1/SignResponse.js';
import type { AgentApiClient } from '../../proto/generated/meshlet/v1/AgentApi.js';
import { Backoff, type BackoffOptions } from '../../ops/backoff.js';
import { fromServiceError } from './errors.js';
import { agentApiClientConstructor } from './proto.js';
import type { HeldView } from './held-view.js';
import { ControllerStream, type SnapshotHandler, type StreamOutcome } from './stream.js';
import { controllerChannelCredentials, controllerChannelOptions } from './tls.js';
import type { CertificateSigner, SignedCertificate } from '../identity/manager.js';

export type { SnapshotHandler, SnapshotMeta } from './stream.js';

/** Options of {@link ControllerClient}. */
export interface ControllerClientOptions {
  /** `host:port` of the controller's agent API. */
  readonly address: string;
  /** CA bundle (PEM) the controller's certificate must chain to (`--controller-ca`). */
  readonly caPem: string;
  readonly node: string;
  /** The agent's token, read again for every connection and every signing call (it may rotate). */
  readonly credentials: () => Promise<string>;
  readonly trustDomain: string;
  readonly logger: Logger;
  /** Applies a decoded, validated snapshot. Resolving ACKs it; rejecting NACKs it. */
  readonly onSnapshot: SnapshotHandler;
  /** Told each time a stream is accepted after the agent was not connected (at start too). */
  readonly onConnected?: () => void;
  /** The agent's software version, sent in the Hello (default: meshlet's package version). */
  readonly agentVersion?: string;
  /** A snapshot version the agent already holds, so an unchanged state is not resent. */
  readonly heldVersion?: string;
  /**
   * Ask the controller for deltas after the first full snapshot (default true). Costs a keyed
   * copy of the cluster view's indexes; false makes the agent behave as one before deltas.
   */
  readonly deltas?: boolean;
  readonly backoff?: BackoffOptions;
  /** Deadline of a SignCertificate call (default 10 s). */
  readonly signTimeoutMs?: number;
}

/** The agent's controller client; also the agent's {@link CertificateSigner}. */
export class ControllerClient implements CertificateSigner {
  private readonly opts: ControllerClientOptions;
  private readonly log: Logger;
  private readonly client: AgentApiClient;
  private readonly backoff: Backoff;
  private held: string;
  /** The keyed view of `held`, for deltas; kept across streams (a reconnect may get a delta). */
  private heldView: HeldView | undefined;
  private isConnected = false;
  private error: Error | undefined;
  /** The status code last logged while disconnected: a new kind of failure is logged once more. */
  private loggedFailure: number | undefined;
  private stream: ControllerStream | undefined;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(opts: ControllerClientOptions) {
    this.opts = opts;
    this.log = opts.logger.child({ component: 'controller-client' });
    this.backoff = new Backoff(opts.backoff);
    this.held = opts.heldVersion ?? '';
    const Client = agentApiClientConstructor();
    this.client = new Client(
      opts.address,
      controllerChannelCredentials(opts.caPem, opts.trustDomain),
      controllerChannelOptions({ initialMs: this.backoff.initialMs, maxMs: this.backoff.maxMs }),
    );
  }

  /** Starts connecting (and reconnecting) in the background. Idempotent. */
  start(): void {
    if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', 'the controller client is closed');
    this.running ??= this.run();
  }

  /** True while a config stream is accepted by the controller. */
  get connected(): boolean {
    return this.isConnected;
  }

  /** The last connection failure (kept after a reconnect, for status output). */
  get lastError(): Error | undefined {
    return this.error;
  }

  /** The version of the last snapshot applied and acknowledged ('' for none). */
  get heldVersion(): string {
    return this.held;
  }

  /** Signs a workload CSR over `SignCertificate`, with a deadline. Throws MeshletError. */
  async sign(csrPem: string, identity: string): Promise<SignedCertificate> {
    if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', 'the controller client is closed');
    const metadata = await this.metadata();
    const timeoutMs = this.opts.signTimeoutMs ?? 10_000;
    const response = await new Promise<SignResponse__Output>((resolve, reject) => {
      this.client.SignCertificate({ csrPem, identity }, metadata, { deadline: Date.now() + timeoutMs }, (err: ServiceError | null, res?: SignResponse__Output) => {
        if (err !== null) reject(fromServiceError(err, `signing a certificate for ${identity}`));
        else if (res === undefined || res.chainPem === '' || res.trustBundlePem === '') {
          reject(new MeshletError('MESHLET_ERR_CONTROLLER', `signing a certificate for ${identity}: the controller answered without a chain or trust bundle`));
        } else resolve(res);
      });
    });
    return { chainPem: response.chainPem, trustBundlePem: response.trustBundlePem };
  }

  /** Stops: cancels the stream, waits for a snapshot being applied, closes the channel. Idempotent. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.stream?.cancel();
      this.wake?.();
    }
    await this.running;
    this.client.close();
  }

  private async metadata(): Promise<Metadata> {
    let token: string;
    try {
      token = await this.opts.credentials();
    } catch (err) {
      throw new MeshletError('MESHLET_ERR_UNAUTHENTICATED', `the agent's credentials could not be read: ${(err as Error).message}`, { cause: err });
    }
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    metadata.set('x-meshlet-node', this.opts.node);
    return metadata;
  }

  private async run(): Promise<void> {
    // Bounded in rate, not in count: the agent looks for its controller for as long as it runs.
    while (!this.closed) {
      const outcome = await this.connectOnce();
      this.stream = undefined;
      if (this.closed) break;
      if (outcome.accepted) this.backoff.reset();
      this.disconnected(outcome);
      await this.sleep(this.backoff.next());
    }
  }

  private async connectOnce(): Promise<StreamOutcome> {
    let metadata: Metadata;
    try {
      metadata = await this.metadata();
    } catch (err) {
      return { accepted: false, error: err as MeshletError, code: -1 };
    }
    if (this.closed) return { accepted: false, error: new MeshletError('MESHLET_ERR_CLOSED', 'closed'), code: -1 };
    const stream = new ControllerStream(this.client.StreamConfig(metadata), {
      node: this.opts.node,
      trustDomain: this.opts.trustDomain,
      agentVersion: this.opts.agentVersion ?? PACKAGE_VERSION,
      logger: this.log,
      onSnapshot: this.opts.onSnapshot,
      deltas: this.opts.deltas ?? true,
      heldVersion: () => this.held,
      heldView: () => this.heldView,
      applied: (version, view) => {
        this.held = version;
        this.heldView = view;
      },
      accepted: () => this.connectedNow(),
    });
    this.stream = stream;
    const outcome = await stream.done;
    await stream.idle();
    return outcome;
  }

  private connectedNow(): void {
    if (this.isConnected) return;
    this.isConnected = true;
    this.log.info({ address: this.opts.address, held: this.held, failedAttempts: this.backoff.attempts }, 'connected to the controller');
    this.loggedFailure = undefined;
    this.opts.onConnected?.();
  }

  /** Logs a state change once: connected -> not, or a new kind of failure; retries stay quiet. */
  private disconnected(outcome: StreamOutcome): void {
    this.error = outcome.error;
    const wasConnected = this.isConnected;
    this.isConnected = false;
    if (!wasConnected && this.loggedFailure === outcome.code) {
      this.log.debug({ err: outcome.error.message }, 'controller still unreachable');
      return;
    }
    this.loggedFailure = outcome.code;
    this.log.warn(
      { address: this.opts.address, err: outcome.error.message, held: this.held },
      wasConnected ? 'lost the controller; serving with the last snapshot and reconnecting with backoff' : 'cannot reach the controller; retrying with backoff',
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
