/**
 * The controller: registry source -> state store -> agent API server, with the CA, the
 * node-authorized signer and the authenticators. `start()` brings the parts up in order
 * (CA, authenticators, registry synced, listener bound) and returns the bound address.
 */
import { isIP } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { CertificateAuthority } from '../ca/authority.js';
import { KubernetesSecretCaStore } from '../ca/kubernetes-secret-ca-store.js';
import { controllerIdentity, issueServingCertificate } from '../ca/serving-certificate.js';
import { AgentApiServer, type BoundAddress } from './agent-api/agent-api-server.js';
import { CombinedAuthenticator } from './auth/agent-authenticator.js';
import { JoinTokenAuthenticator } from './auth/join-token-authenticator.js';
import { KubernetesTokenAuthenticator } from './auth/kubernetes-token-authenticator.js';
import { KubernetesTokenReviewer } from './auth/token-reviewer.js';
import { ControllerCertSigner } from './cert-signer.js';
import { caRootNamespaces } from './ca-root/ca-root-plan.js';
import { CaRootPublisher } from './ca-root/ca-root-publisher.js';
import { LeaderElector, kubernetesLeaseApi } from './leader-election.js';
import type { ControllerConfig } from './config.js';
import { ClusterViewSize, ControllerMetrics } from './metrics.js';
import { ControllerMetricsServer, type ControllerHealth } from './metrics-server.js';
import { ControllerDebugServer } from './debug-server.js';
import { PACKAGE_VERSION } from '../ops/package-version.js';
import { proxyStatusView, type ProxyStatusView } from './proxy-status.js';
import { loadKubeConfig } from './registry/kube-client.js';
import { KubernetesSource } from './registry/kubernetes-source.js';
import { RouteStatusWriter } from './registry/route-status-writer.js';
import { TrafficPolicyStatusWriter } from './registry/traffic-policy-status-writer.js';
import { trafficPolicyStatusesOf } from '../mesh/traffic-policy-status.js';
import type { TrafficPolicyObject } from '../mesh/types.js';
import type { RegistrySource } from './registry/registry-source.js';
import { YamlDirectorySource } from './registry/yaml-directory-source.js';
import { StateStore } from './state-store.js';

/** The controller's serving certificate lives this long; it is renewed at half-life. */
const SERVING_TTL_SECONDS = 30 * 24 * 3600;

/** One controller process. */
export class Controller {
  readonly store: StateStore;
  private readonly config: ControllerConfig;
  private readonly logger: Logger;
  private kubeConfig: KubeConfig | undefined;
  private source: RegistrySource | undefined;
  /** Writes route status to HTTPRoutes and GRPCRoutes (Kubernetes registry, leader only). */
  private routeStatus: RouteStatusWriter | undefined;
  /** Writes TrafficPolicy status (Kubernetes registry, leader only). */
  private policyStatus: TrafficPolicyStatusWriter | undefined;
  /** Publishes the meshlet-ca-root ConfigMaps (Kubernetes registry, leader only). */
  private caRoot: CaRootPublisher | undefined;
  private joinTokens: JoinTokenAuthenticator | undefined;
  private kubernetesAuth: KubernetesTokenAuthenticator | undefined;
  private server: AgentApiServer | undefined;
  private signer: ControllerCertSigner | undefined;
  private closing: Promise<void> | undefined;
  private ca: CertificateAuthority | undefined;
  private authn: CombinedAuthenticator | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  /** The controller's Prometheus metrics (read-only for callers). */
  readonly metrics = new ControllerMetrics();
  private metricsServer: ControllerMetricsServer | undefined;
  private metricsAddress: BoundAddress | undefined;
  private debugServer: ControllerDebugServer | undefined;
  private debugAddress: BoundAddress | undefined;
  /** The agent API has served since the start finished (a renewal replaces its listener in place). */
  private agentApiServing = false;

  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly onLost: () => void;
  private elector: LeaderElector | undefined;

  /**
   * `env` locates the Kubernetes API in a pod (KUBERNETES_SERVICE_HOST/PORT); tests pass their
   * own. `onLost` runs when leadership is lost (the CLI exits, so the pod restarts as standby).
   */
  constructor(config: ControllerConfig, logger: Logger, env: Readonly<Record<string, string | undefined>> = {}, onLost: () => void = () => undefined) {
    this.config = config;
    this.logger = logger;
    this.env = env;
    this.onLost = onLost;
    this.store = new StateStore({ logger, trustDomain: config.trustDomain, debounceMs: config.debounceMs });
  }

  /** Brings everything up; resolves with the agent API's bound address. */
  async start(): Promise<BoundAddress> {
    const { config, logger } = this;
    if (config.registry.kind === 'kubernetes' || config.ca.kind === 'kubernetes-secret' || config.kubernetesAuth || config.leaderElection !== undefined) {
      const kubeconfig = config.registry.kind === 'kubernetes' ? config.registry.kubeconfig : undefined;
      this.kubeConfig = loadKubeConfig({ env: this.env, ...(kubeconfig === undefined ? {} : { kubeconfig }) });
    }
    if (config.leaderElection !== undefined) {
      this.elector = new LeaderElector({ api: kubernetesLeaseApi(this.kubeConfig as KubeConfig), identity: config.leaderElection.identity, logger });
    }
    // /metrics first, so a standby is seen waiting (meshlet_controller_leader 0): alerts tell
    // a cluster without a leader from controllers that are not scraped.
    await this.serveMetrics();
    try {
      await this.serveDebug();
      return await this.startServing();
    } catch (err) {
      // Leave nothing half-bound behind a failed start.
      this.metricsServer?.close();
      this.debugServer?.close();
      throw err;
    }
  }

  private async startServing(): Promise<BoundAddress> {
    const { config, logger } = this;
    if (this.elector !== undefined) {
      // A standby waits here, serving no agents (its readiness probe fails, so the Service
      // routes agents to the leader); losing the Lease later ends the process (onLost).
      logger.info({ identity: config.leaderElection?.identity }, 'waiting to become leader');
      await this.elector.acquire(this.onLost);
    }
    const ca = await this.loadCa();
    const authenticator = await this.authenticator();
    this.signer = new ControllerCertSigner({ ca, feed: this.store, logger, ttlSeconds: config.certTtlSeconds });
    this.source = this.registrySource();
    this.store.addSource(this.source);
    if (config.registry.kind === 'kubernetes') {
      // Past leader election: only the leader writes status.
      const writer = new RouteStatusWriter({ kubeConfig: this.kubeConfig as KubeConfig, logger });
      this.routeStatus = writer;
      this.store.subscribe((published) => writer.update(published.state.routeStatuses));
      // A route refused by validation changes no state; its status still says why.
      const source = this.source as KubernetesSource;
      source.onChange(() => writer.updateInvalid(source.invalidRoutes()));
      // TrafficPolicy status (GEP-713): valid policies with each state, invalid ones (left out
      // of the state) from the source's exclusions.
      const policies = new TrafficPolicyStatusWriter({ kubeConfig: this.kubeConfig as KubeConfig, logger });
      this.policyStatus = policies;
      const policyObjects = (): TrafficPolicyObject[] => (source.contents()?.objects ?? []).filter((o): o is TrafficPolicyObject => o.kind === 'TrafficPolicy');
      this.store.subscribe((published) => policies.update(trafficPolicyStatusesOf(published.state, policyObjects())));
      source.onChange(() => policies.updateInvalid(source.contents()?.excluded ?? []));
      this.publishCaRoot(ca, source);
    }
    await this.source.start();
    this.ca = ca;
    this.authn = authenticator;
    const bound = await this.serve(config.listenPort);
    this.agentApiServing = true;
    logger.info({ address: bound, version: this.store.current()?.version, registry: this.source.name }, 'controller ready');
    return bound;
  }

  /**
   * Issues a serving certificate and serves the agent API with it. At the certificate's
   * half-life this runs again: grpc-js cannot swap a listener's certificate, so the listener
   * is replaced on the same port; agents reconnect within their backoff (they keep serving
   * meanwhile) and resync from the version they hold.
   */
  private async serve(port: number): Promise<BoundAddress> {
    const { config, logger } = this;
    const ca = this.ca as CertificateAuthority;
    const serving = await issueServingCertificate(ca, {
      identity: controllerIdentity(config.trustDomain),
      dnsNames: ['meshlet-controller.meshlet-system.svc', ...config.serverNames.filter((n) => isIP(n) === 0)],
      ipAddresses: [...config.serverNames.filter((n) => isIP(n) !== 0), ...(isWildcard(config.listenHost) ? [] : [config.listenHost])],
      ttlSeconds: SERVING_TTL_SECONDS,
    });
    await this.server?.close();
    this.server = new AgentApiServer({
      feed: this.store,
      authenticator: this.authn as CombinedAuthenticator,
      signer: this.signer as ControllerCertSigner,
      logger,
      tls: { certPem: serving.chainPem, keyPem: serving.keyPem, trustBundlePem: ca.trustBundlePem },
      trustDomain: config.trustDomain,
      onPush: this.metrics.onPush,
    });
    const bound = await this.server.start(port, config.listenHost);
    logger.info({ address: bound, notAfter: serving.notAfter.toISOString() }, 'agent API serving');
    const renewIn = Math.min((serving.notAfter.getTime() - Date.now()) / 2, 2 ** 31 - 1);
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => {
      if (this.closing !== undefined) return;
      this.serve(bound.port).catch((err: Error) => logger.error({ err: err.message }, 'serving certificate renewal failed; the current one stays until it expires'));
    }, renewIn);
    this.renewTimer.unref();
    return bound;
  }

  /**
   * The root ConfigMap in meshlet-system and every enrolled namespace. It runs beside the agent
   * API, never before it: agents already holding the root keep being served while the API
   * server refuses or is away.
   */
  private publishCaRoot(ca: CertificateAuthority, source: KubernetesSource): void {
    const publisher = new CaRootPublisher({
      kubeConfig: this.kubeConfig as KubeConfig,
      logger: this.logger,
      bundlePem: ca.trustBundlePem,
      isLeader: () => this.elector?.isLeader ?? true,
    });
    this.caRoot = publisher;
    source.onChange(() => publisher.setNamespaces(caRootNamespaces(source.contents()?.objects ?? [])));
    publisher.start();
  }

  /** The replica's role and what keeps it from serving agents (the metrics port's `/ready`). */
  health(): ControllerHealth {
    const role = this.elector === undefined ? 'single' : this.elector.isLeader ? 'leader' : 'standby';
    const pending: string[] = [];
    if (this.closing !== undefined) pending.push('draining');
    if (role === 'standby') pending.push('leadership');
    if (this.store.current() === undefined) pending.push('state');
    if (!this.agentApiServing) pending.push('agent-api');
    return { role, pending };
  }

  /** Every agent this replica knows and where it stands (`meshlet proxy-status`). */
  proxyStatus(): ProxyStatusView {
    return proxyStatusView(this.server?.stats() ?? [], this.store.current()?.version, this.health().role, PACKAGE_VERSION);
  }

  /** Where the debug port listens (127.0.0.1), once started. */
  get debugBound(): BoundAddress | undefined {
    return this.debugAddress;
  }

  private async serveDebug(): Promise<void> {
    this.debugServer = new ControllerDebugServer(this, this.metrics.registry, this.logger);
    const address = await this.debugServer.start(this.config.debugPort);
    this.debugAddress = { host: '127.0.0.1', port: address.port };
  }

  /** Where `/metrics` is served, once started. */
  get metricsBound(): BoundAddress | undefined {
    return this.metricsAddress;
  }

  private async serveMetrics(): Promise<void> {
    const sizes = new ClusterViewSize();
    this.metrics.watch({
      agentsConnected: () => this.server?.stats().filter((s) => s.connected).length ?? 0,
      published: () => this.store.current(),
      snapshotBytes: () => sizes.of(this.store.current()),
      certificates: () => this.signer?.counters(),
      state: () => this.store.status(),
      agentApi: () => (this.server === undefined ? undefined : { ...this.server.connections, refused: this.server.connectionRefusals() }),
      tokenAuth: () => this.kubernetesAuth?.counters(),
      caRoot: () => this.caRoot?.counters(),
      // Without leader election this replica is the only one, and serves from the start.
      leader: () => this.elector?.isLeader ?? true,
    });
    this.metricsServer = new ControllerMetricsServer(this.metrics, this.logger, () => this.health());
    const address = await this.metricsServer.start(this.config.metricsPort, this.config.listenHost);
    this.metricsAddress = { host: this.config.listenHost, port: address.port };
  }

  private async loadCa(): Promise<CertificateAuthority> {
    const { ca } = this.config;
    const opts = { trustDomain: this.config.trustDomain, logger: this.logger };
    switch (ca.kind) {
      case 'directory':
        return CertificateAuthority.loadOrCreate({ ...opts, dir: ca.dir });
      case 'files':
        return CertificateAuthority.fromFiles({ ...opts, certFile: ca.certFile, keyFile: ca.keyFile, bundleFile: ca.bundleFile });
      case 'kubernetes-secret':
        return CertificateAuthority.fromStore({
          ...opts,
          store: new KubernetesSecretCaStore({ kubeConfig: this.kubeConfig as KubeConfig, namespace: ca.namespace, name: ca.name }),
        });
    }
  }

  private async authenticator(): Promise<CombinedAuthenticator> {
    if (this.config.joinTokensFile !== undefined) {
      this.joinTokens = new JoinTokenAuthenticator({ file: this.config.joinTokensFile, logger: this.logger });
      await this.joinTokens.start();
    }
    const kubernetes =
      this.config.kubernetesAuth && this.kubeConfig !== undefined
        ? new KubernetesTokenAuthenticator({ reviewer: new KubernetesTokenReviewer({ kubeConfig: this.kubeConfig }), logger: this.logger })
        : undefined;
    this.kubernetesAuth = kubernetes;
    return new CombinedAuthenticator({ joinTokens: this.joinTokens, kubernetes });
  }

  private registrySource(): RegistrySource {
    const { registry } = this.config;
    if (registry.kind === 'directory') return new YamlDirectorySource({ dir: registry.dir, logger: this.logger });
    return new KubernetesSource({ kubeConfig: this.kubeConfig as KubeConfig, logger: this.logger });
  }

  /** Stops accepting, ends agent streams (agents keep serving and reconnect), closes sources. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.renewTimer);
      this.metricsServer?.close();
      this.debugServer?.close();
      await this.server?.close();
      await this.source?.close();
      this.routeStatus?.close();
      this.policyStatus?.close();
      await this.caRoot?.close();
      this.store.close();
      this.joinTokens?.close();
      await this.elector?.release(); // the standby takes over at once
      this.logger.info('controller stopped');
    })();
    return this.closing;
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}
