/**
 * `kubectl port-forward` for one command's lifetime: a listener on 127.0.0.1 (a free port)
 * whose every connection is carried to a pod's port over the Kubernetes API's port-forward
 * websocket (v4.channel.k8s.io: per port a data and an error channel, client-node's
 * `PortForward`). The admin client and the tap stream then speak plain HTTP to the local port,
 * unchanged. What the kubelet reports on the error channel (nothing listening, say) and a
 * refused upgrade (403: RBAC) are kept, so the caller can say why a request failed instead of
 * only "connection reset".
 */
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { PortForward, type KubeConfig } from '@kubernetes/client-node';
import type { MeshletError } from '../../mesh/errors.js';
import { forbidden, nodeAgentError } from './agent-pod.js';

/** The kubelet's error-channel text kept per failure: a sentence, not a stream. */
const MAX_ERROR_TEXT = 1024;

/** What client-node's websocket (the `ws` package) is used for here. */
interface ChannelSocket {
  close(): void;
  on(event: 'close', listener: () => void): unknown;
}

/** A port-forward to `pod`'s `port`, serving on {@link url} until {@link close}. */
export class PodPortForward {
  private failure: MeshletError | undefined;
  private readonly sockets = new Set<net.Socket>();
  private closed = false;

  private constructor(
    private readonly server: net.Server,
    /** `http://127.0.0.1:PORT`: where the forwarded port is reached. */
    readonly url: URL,
    /** `meshlet-system/meshlet-agent-x:15000`, for messages. */
    readonly target: string,
  ) {}

  /** Listens on 127.0.0.1:0 and forwards each connection to `namespace/pod:port` through `kc`'s API. */
  static async open(kc: KubeConfig, namespace: string, pod: string, port: number): Promise<PodPortForward> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    server.unref();
    const { port: local } = server.address() as AddressInfo;
    const pf = new PodPortForward(server, new URL(`http://127.0.0.1:${local}`), `${namespace}/${pod}:${port}`);
    const forward = new PortForward(kc, true);
    server.on('connection', (socket) => pf.carry(forward, socket, namespace, pod, port));
    return pf;
  }

  /** The last reason a forwarded connection failed (forbidden, refused in the pod), if any. */
  lastFailure(): MeshletError | undefined {
    return this.failure;
  }

  /** Stops listening and ends every forwarded connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** One local connection: a websocket of its own, torn down with it either side. */
  private carry(forward: PortForward, socket: net.Socket, namespace: string, pod: string, port: number): void {
    this.sockets.add(socket);
    let channel: ChannelSocket | undefined;
    socket.on('error', () => undefined); // the websocket side says why; the HTTP client sees the reset
    socket.once('close', () => {
      this.sockets.delete(socket);
      channel?.close();
    });
    const errors = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        const text = chunk.toString('utf8').slice(0, MAX_ERROR_TEXT).trim();
        if (text !== '') {
          this.failure = nodeAgentError(`port-forward to ${this.target} failed: ${text}`);
          socket.destroy();
        }
        done();
      },
    });
    forward.portForward(namespace, pod, [port], socket, errors, socket).then(
      (ws) => {
        channel = ws as unknown as ChannelSocket;
        channel.on('close', () => socket.end());
        if (socket.destroyed) channel.close();
      },
      (err: unknown) => {
        this.failure = upgradeFailure(err, this.target, namespace);
        socket.destroy();
      },
    );
  }
}

/** A refused websocket upgrade as a MESHLET_ERR_NODE_AGENT: 403 names the RBAC verb. */
function upgradeFailure(err: unknown, target: string, namespace: string): MeshletError {
  const text = (err as { message?: unknown } | null)?.message;
  const message = typeof text === 'string' ? text : String(err);
  const status = /Unexpected server response: (\d+)/.exec(message)?.[1];
  if (status === '403') return forbidden('create', 'pods/portforward', `in namespace ${namespace}`, err);
  return nodeAgentError(`port-forward to ${target} failed: ${status === undefined ? message : `the API answered HTTP ${status}`}`, err);
}
