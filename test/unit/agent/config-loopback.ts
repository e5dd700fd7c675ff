/**
 * The controller's `ConfigStream` and the agent's `ControllerStream` joined without a network:
 * every message goes through the agent API's real protobuf serializers, one event-loop turn
 * later, as over gRPC. For property tests that drive thousands of pushes (the gRPC tests are in
 * test/integration/controller/agent-api/). A test can tamper with controller messages in
 * transit (`tamper`) and with what the agent holds.
 */
import { EventEmitter } from 'node:events';
import { Metadata, status, type StatusObject } from '@grpc/grpc-js';
import { pino } from 'pino';
import type { HeldView } from '../../../src/agent/control/held-view.js';
import { ControllerStream, type ControllerCall, type SnapshotMeta } from '../../../src/agent/control/stream.js';
import { agentApiService } from '../../../src/controller/agent-api/agent-api-proto.js';
import { ClusterViewCache } from '../../../src/controller/agent-api/cluster-view-cache.js';
import { ConfigStream, type ConfigCall } from '../../../src/controller/agent-api/config-stream.js';
import { NodeStatsRecord } from '../../../src/controller/agent-api/node-stats.js';
import { ViewHistory } from '../../../src/controller/agent-api/view-history.js';
import type { PublishedState } from '../../../src/controller/contracts.js';
import type { ClusterState } from '../../../src/mesh/cluster-types.js';
import type { NodeSnapshot } from '../../../src/mesh/types.js';
import type { AgentMessage } from '../../../src/proto/generated/meshlet/v1/AgentMessage.js';
import type { ControllerMessage } from '../../../src/proto/generated/meshlet/v1/ControllerMessage.js';

const silent = pino({ level: 'silent' });
/** Event-loop turns `settle` waits at most: far more than any run here needs. */
const MAX_SETTLE_TURNS = 100_000;

/** The server end: what ConfigStream uses of a grpc-js server call. */
class ServerEnd extends EventEmitter {
  readonly metadata = new Metadata();
  cancelled = false;
  constructor(private readonly deliver: (m: ControllerMessage) => void) {
    super();
    this.on('error', () => undefined);
  }
  getPeer(): string {
    return 'loopback';
  }
  sendMetadata(): void {
    this.peer?.emit('metadata', new Metadata());
  }
  write(m: ControllerMessage): boolean {
    this.deliver(m);
    return true;
  }
  end(): void {
    this.peer?.emit('status', { code: status.OK, details: '', metadata: new Metadata() } satisfies StatusObject);
  }
  peer: ClientEnd | undefined;
}

/** The client end: what ControllerStream uses of a grpc-js client call. */
class ClientEnd extends EventEmitter {
  readonly writable = true;
  constructor(private readonly deliver: (m: AgentMessage) => void) {
    super();
  }
  write(m: AgentMessage): boolean {
    this.deliver(m);
    return true;
  }
  cancel(): void {
    this.emit('status', { code: status.CANCELLED, details: 'cancelled', metadata: new Metadata() } satisfies StatusObject);
  }
}

/** One node's stream, controller and agent, in this process. */
export class ConfigLoopback {
  readonly stats: NodeStatsRecord;
  readonly history: ViewHistory;
  /** Every snapshot the agent applied, with how it came. */
  readonly applied: { snapshot: NodeSnapshot; meta: SnapshotMeta }[] = [];
  /** Every controller message, after `tamper`, as the agent decoded it. */
  readonly received: ControllerMessage[] = [];
  /** Every agent message as the controller decoded it. */
  readonly answers: AgentMessage[] = [];
  /** Changes a controller message in transit (before it is serialized). */
  tamper: ((m: ControllerMessage) => ControllerMessage) | undefined;
  held = '';
  heldView: HeldView | undefined;
  private current: PublishedState | undefined;
  private readonly server: ConfigStream;
  private readonly agent: ControllerStream;
  private inTransit = 0;

  /**
   * `capabilities: false` drops the Hello's capabilities in transit: an agent built before
   * them (it takes deltas, but its local workloads only whole).
   */
  constructor(readonly node: string, trustDomain: string, trustBundlePem: string, opts: { deltaBases?: number; deltas?: boolean; capabilities?: boolean } = {}) {
    const service = agentApiService().StreamConfig;
    const serverEnd = new ServerEnd((m) => {
      const sent = this.tamper === undefined ? m : this.tamper(m);
      const bytes = service.responseSerialize(sent);
      this.later(() => {
        const decoded = service.responseDeserialize(bytes);
        this.received.push(decoded);
        clientEnd.emit('data', decoded);
      });
    });
    const clientEnd = new ClientEnd((m) => {
      const sent = opts.capabilities === false && m.hello ? { hello: { ...m.hello, capabilities: [] } } : m;
      const bytes = service.requestSerialize(sent);
      this.later(() => {
        const decoded = service.requestDeserialize(bytes);
        this.answers.push(decoded);
        serverEnd.emit('data', decoded);
      });
    });
    serverEnd.peer = clientEnd;
    this.stats = new NodeStatsRecord(node);
    this.history = new ViewHistory(opts.deltaBases);
    const views = new ClusterViewCache();
    this.server = new ConfigStream(serverEnd as unknown as ConfigCall, { node, method: 'join-token' }, this.stats, {
      logger: silent,
      views,
      history: this.history,
      trustBundlePem,
      onPush: undefined,
      helloTimeoutMs: 600_000,
      agentVersionRefusal: () => undefined,
      accepted: (stream, hello) => {
        if (this.current !== undefined) this.history.remember(this.current);
        stream.begin(this.current, hello.heldVersion);
      },
      ended: () => undefined,
    });
    this.agent = new ControllerStream(clientEnd as unknown as ControllerCall, {
      node,
      trustDomain,
      agentVersion: '0.1.0',
      logger: silent,
      deltas: opts.deltas ?? true,
      onSnapshot: async (snapshot, meta) => {
        this.applied.push({ snapshot, meta });
      },
      heldVersion: () => this.held,
      heldView: () => this.heldView,
      applied: (version, view) => {
        this.held = version;
        this.heldView = view;
      },
      accepted: () => undefined,
    });
  }

  /** Publishes `state` as `version`, as the server does: remembered, then offered. */
  publish(state: ClusterState, version: string): PublishedState {
    const published = { version, state, publishedAt: Date.now() };
    this.current = published;
    this.history.remember(published);
    this.server.offer(published);
    return published;
  }

  /** Resolves once no message is in transit and the agent has handled all it got. */
  async settle(): Promise<void> {
    for (let turn = 0; turn < MAX_SETTLE_TURNS; turn++) {
      await this.agent.idle();
      if (this.inTransit === 0) {
        await this.agent.idle();
        if (this.inTransit === 0) return;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    throw new Error(`the loopback stream did not settle within ${MAX_SETTLE_TURNS} turns`);
  }

  private later(fn: () => void): void {
    this.inTransit += 1;
    setImmediate(() => {
      this.inTransit -= 1;
      fn();
    });
  }
}
