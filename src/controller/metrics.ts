/**
 * The controller's Prometheus metrics (prom-client, in a registry of its own). Pushes are
 * observed as the agent API answers them (`onPush`); everything else (agents connected, the
 * signer's and the state store's counters, the snapshot size, the version) is read at scrape
 * time from the parts that already keep it, so nothing is counted twice. Labels stay bounded:
 * an outcome or a result, never a node, a version or a request.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { encodeClusterView } from '../mesh/snapshot-wire/encode.js';
import type { PushOutcome } from './agent-api/agent-api-server.js';
import type { KubernetesAuthCounters } from './auth/kubernetes-token-authenticator.js';
import type { CaRootCounters } from './ca-root/ca-root-publisher.js';
import type { CertSignerCounters } from './cert-signer.js';
import type { PublishedState } from './contracts.js';

/** What the controller metrics read at scrape time. */
export interface ControllerMetricsSource {
  /** Nodes with an accepted config stream now. */
  agentsConnected(): number;
  /** The state in force, or undefined before the first. */
  published(): PublishedState | undefined;
  /** Bytes of the encoded shared cluster view of `published()`. */
  snapshotBytes(): number | undefined;
  certificates(): CertSignerCounters | undefined;
  state(): { readonly versionsPublished: number; readonly rejections: number };
  /** The agent API's connections and the refusals of its connection limits (undefined: not serving). */
  agentApi?(): AgentApiConnectionFigures | undefined;
  /** The Kubernetes token authenticator's counters (undefined: it does not run). */
  tokenAuth?(): KubernetesAuthCounters | undefined;
  /** The meshlet-ca-root publisher's counters (undefined: it does not run). */
  caRoot?(): CaRootCounters | undefined;
  /**
   * True while this replica is the one serving agents: it holds the Lease, or runs without
   * leader election (undefined: read as not leading).
   */
  leader?(): boolean;
}

/** What the agent API server reports about its connections. */
export interface AgentApiConnectionFigures {
  readonly connections: number;
  readonly unauthenticated: number;
  readonly refused: Readonly<Record<string, number>>;
}

/**
 * Push latency buckets (seconds): a push within one machine answers in milliseconds; across a
 * cluster, tens to hundreds of ms; past the debounce plus a slow agent, seconds.
 */
const PUSH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The controller's metrics registry; `onPush` is the agent API server's push observer. */
export class ControllerMetrics {
  readonly registry = new Registry();
  private source: ControllerMetricsSource | undefined;
  private readonly latency: Histogram;
  private readonly pushes: Counter<'outcome'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.latency = new Histogram({
      name: 'meshlet_controller_push_latency_seconds',
      help: 'From a state version\'s publication to the agent\'s ACK, per acknowledged push',
      buckets: PUSH_BUCKETS,
      registers,
    });
    this.pushes = new Counter({ name: 'meshlet_controller_pushes_total', help: 'Pushes answered by agents, by outcome (ack, nack)', labelNames: ['outcome'], registers });
    // Both outcomes exist from the start, so rate() and absent() work before the first NACK.
    this.pushes.inc({ outcome: 'ack' }, 0);
    this.pushes.inc({ outcome: 'nack' }, 0);
    this.scrapeTimeMetrics(registers);
  }

  /** Where scrape-time values come from (the controller, once its parts are built). */
  watch(source: ControllerMetricsSource): void {
    this.source = source;
  }

  /** One answered push (bound: it is passed as the agent API's `onPush`). */
  readonly onPush = (push: PushOutcome): void => {
    this.pushes.inc({ outcome: push.outcome });
    if (push.outcome === 'ack') this.latency.observe(Math.max(0, push.latencyMs) / 1000);
  };

  /** The exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The agent API's connection limits and the TokenReview limits, read at scrape time. */
  private limitMetrics(registers: Registry[]): void {
    const metrics = this;
    new Gauge({
      name: 'meshlet_controller_agent_api_connections', help: 'Connections to the agent API now, all and not yet authenticated', labelNames: ['state'], registers,
      collect() {
        const figures = metrics.source?.agentApi?.();
        this.set({ state: 'all' }, figures?.connections ?? 0);
        this.set({ state: 'unauthenticated' }, figures?.unauthenticated ?? 0);
      },
    });
    const refusedSeen = new Map<string, number>();
    new Counter({
      name: 'meshlet_controller_agent_api_connections_refused_total',
      help: 'Agent API connections refused or closed by a limit (max_connections, max_per_address, max_unauthenticated, authentication_timeout)',
      labelNames: ['reason'], registers,
      collect() {
        for (const [reason, count] of Object.entries(metrics.source?.agentApi?.()?.refused ?? {})) this.inc({ reason }, deltaOf(refusedSeen, reason, count));
      },
    });
    const authSeen = new Map<string, number>();
    new Counter({
      name: 'meshlet_controller_token_reviews_total', help: 'TokenReviews sent to the Kubernetes API server', registers,
      collect() {
        this.inc(deltaOf(authSeen, 'reviews', metrics.source?.tokenAuth?.()?.reviews ?? authSeen.get('reviews') ?? 0));
      },
    });
    new Counter({
      name: 'meshlet_controller_token_refusals_total',
      help: 'Kubernetes tokens refused, by reason (malformed, invalid, cached_invalid, rate_limited, busy, review_failed, node_mismatch)',
      labelNames: ['reason'], registers,
      collect() {
        for (const [reason, count] of Object.entries(metrics.source?.tokenAuth?.()?.refused ?? {})) this.inc({ reason }, deltaOf(authSeen, reason, count));
      },
    });
  }

  /** The meshlet-ca-root publisher's writes, failures and coverage, read at scrape time. */
  private caRootMetrics(registers: Registry[]): void {
    const metrics = this;
    const seen = new Map<string, number>();
    new Counter({
      name: 'meshlet_controller_ca_root_writes_total', help: 'meshlet-ca-root ConfigMaps written by the leader, by result (created, updated)', labelNames: ['result'], registers,
      collect() {
        const now = metrics.source?.caRoot?.();
        for (const result of ['created', 'updated'] as const) this.inc({ result }, deltaOf(seen, result, now?.[result] ?? seen.get(result) ?? 0));
      },
    });
    new Counter({
      name: 'meshlet_controller_ca_root_failures_total',
      help: 'meshlet-ca-root requests that failed and are retried, by operation (create, update, watch) and reason (forbidden, conflict, unreachable, ...)',
      labelNames: ['operation', 'reason'], registers,
      collect() {
        for (const [key, count] of Object.entries(metrics.source?.caRoot?.()?.failures ?? {})) {
          const [operation = '', reason = ''] = key.split('/');
          this.inc({ operation, reason }, deltaOf(seen, key, count));
        }
      },
    });
    new Gauge({
      name: 'meshlet_controller_ca_root_namespaces', help: 'Namespaces that should hold meshlet-ca-root, by state (published: holds the current root; pending: not yet)', labelNames: ['state'], registers,
      collect() {
        const now = metrics.source?.caRoot?.();
        this.set({ state: 'published' }, now?.published ?? 0);
        this.set({ state: 'pending' }, (now?.namespaces ?? 0) - (now?.published ?? 0));
      },
    });
  }

  private scrapeTimeMetrics(registers: Registry[]): void {
    const metrics = this;
    new Gauge({
      name: 'meshlet_controller_agents_connected', help: 'Agents with an accepted config stream', registers,
      collect() {
        this.set(metrics.source?.agentsConnected() ?? 0);
      },
    });
    new Gauge({
      // A standby waiting for the Lease serves /metrics too and says 0, so "no replica says 1"
      // tells a cluster without a leader from one whose controllers are not scraped at all.
      name: 'meshlet_controller_leader', help: '1 on the replica that serves agents (holds the Lease, or runs without leader election), 0 on a standby', registers,
      collect() {
        this.set(metrics.source?.leader?.() === true ? 1 : 0);
      },
    });
    new Gauge({
      name: 'meshlet_controller_snapshot_bytes', help: 'Bytes of the encoded shared cluster view of the version in force (0 before the first)', registers,
      collect() {
        this.set(metrics.source?.snapshotBytes() ?? 0);
      },
    });
    new Gauge({
      name: 'meshlet_controller_config_info', help: 'The state version in force (value 1, version in a label)', labelNames: ['version'], registers,
      collect() {
        this.reset();
        const version = metrics.source?.published()?.version;
        if (version !== undefined) this.set({ version }, 1);
      },
    });
    const csrs = { signed: 0, refused: 0, invalid: 0 };
    new Counter({
      name: 'meshlet_controller_csrs_total', help: 'Workload CSRs answered, by result (signed, refused: node not authorized, invalid: bad CSR)', labelNames: ['result'], registers,
      collect() {
        const now = metrics.source?.certificates() ?? csrs;
        for (const r of ['signed', 'refused', 'invalid'] as const) this.inc({ result: r }, Math.max(0, now[r] - csrs[r]));
        Object.assign(csrs, { signed: now.signed, refused: now.refused, invalid: now.invalid });
      },
    });
    const state = { versionsPublished: 0, rejections: 0 };
    new Counter({
      name: 'meshlet_controller_state_versions_total', help: 'Cluster state versions published', registers,
      collect() {
        const now = metrics.source?.state().versionsPublished ?? state.versionsPublished;
        this.inc(Math.max(0, now - state.versionsPublished));
        state.versionsPublished = now;
      },
    });
    this.limitMetrics(registers);
    this.caRootMetrics(registers);
    new Counter({
      name: 'meshlet_controller_state_rejections_total', help: 'Registry states refused (the previous version stayed in force)', registers,
      collect() {
        const now = metrics.source?.state().rejections ?? state.rejections;
        this.inc(Math.max(0, now - state.rejections));
        state.rejections = now;
      },
    });
  }
}

/**
 * Counts read at scrape time from a part that may be replaced (the agent API server is, at each
 * serving-certificate renewal): a value lower than the last one starts again from zero.
 */
function deltaOf(last: Map<string, number>, key: string, now: number): number {
  const before = last.get(key) ?? 0;
  last.set(key, now);
  return now >= before ? now - before : now;
}

/**
 * The size of a state's encoded cluster view, encoded at most once per version. The agent API
 * server encodes the same bytes for its pushes but does not expose them; see the report.
 */
export class ClusterViewSize {
  private last: { readonly published: PublishedState; readonly bytes: number } | undefined;

  /** Bytes of `published`'s encoded cluster view (undefined: no state yet). */
  of(published: PublishedState | undefined): number | undefined {
    if (published === undefined) return undefined;
    if (this.last?.published !== published) {
      this.last = { published, bytes: encodeClusterView(published.state, published.version).bytes.length };
    }
    return this.last.bytes;
  }
}
