/**
 * A loopback TCP forwarder that dials its target from a chosen local address. grpc-js dials
 * with `net.connect(address)` and takes no local address, so a simulated agent's channel goes to
 * its forwarder on 127.0.0.1, and the forwarder connects to the controller from the agent's own
 * loopback source: the controller sees one source address per agent, as it sees one per node.
 * Bytes are passed through untouched (TLS end to end between the agent and the controller).
 *
 * @module
 */

import { createServer, connect, type Server, type Socket } from 'node:net';

/** Forwards every connection made to it to `target`, dialled from `localAddress`. */
export class SourceForwarder {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly target: { host: string; port: number },
    private readonly localAddress: string,
  ) {
    this.server = createServer((client) => this.forward(client));
  }

  /** Listens on 127.0.0.1, on a free port; resolves the port. */
  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('the forwarder has no TCP port');
    return address.port;
  }

  private forward(client: Socket): void {
    const upstream = connect({ ...this.target, localAddress: this.localAddress });
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
      // One side failing or closing ends the other: the agent sees the connection drop.
      s.once('error', () => { client.destroy(); upstream.destroy(); });
      s.once('close', () => { client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Stops listening and drops every forwarded connection. Idempotent. */
  close(): void {
    if (this.server.listening) this.server.close();
    for (const s of this.sockets) s.destroy();
  }
}
