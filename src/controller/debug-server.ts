/**
 * The controller's debug port: 127.0.0.1 only (15013, `--debug-port`), plain HTTP, read-only.
 * What it shows (agents' names, versions, NACK reasons) is for the cluster's operators, not for
 * every pod: on loopback it is reached with `kubectl port-forward` (which needs the RBAC right
 * to port-forward to the controller's pods) or on the host of a systemd controller. Its
 * connections, timeouts and sizes are bounded like every local port (`http-limits.ts`).
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { MeshletError } from '../mesh/errors.js';
import { createLocalHttpServer } from '../ops/http-limits.js';
import { listen } from '../ops/listen.js';
import type { ProxyStatusView } from './proxy-status.js';

/** The controller's debug port (loopback only). */
export const CONTROLLER_DEBUG_PORT = 15013;

/** What the debug port reads from the controller. */
export interface DebugSource {
  proxyStatus(): ProxyStatusView;
}

/** Serves `GET /debug/proxy-status` (404 elsewhere, 405 for other methods). */
export class ControllerDebugServer {
  private readonly server: http.Server;
  private readonly log: Logger;
  private closed = false;

  constructor(source: DebugSource, registry: Registry, logger: Logger) {
    this.log = logger.child({ component: 'debug' });
    this.server = createLocalHttpServer(
      (req, res) => {
        const path = (req.url ?? '/').split('?')[0];
        if (path !== '/debug/proxy-status') {
          res.writeHead(404).end();
        } else if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { allow: 'GET' }).end();
        } else {
          res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(source.proxyStatus())}\n`);
        }
      },
      { listener: 'debug', registry, logger: this.log },
    ).server;
  }

  /** Binds 127.0.0.1:`port` (0: any free port). */
  async start(port: number = CONTROLLER_DEBUG_PORT): Promise<AddressInfo> {
    if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', 'the controller debug server is closed');
    let address: AddressInfo;
    try {
      address = await listen(this.server, { port, host: '127.0.0.1' });
    } catch (err) {
      throw new MeshletError('MESHLET_ERR_LISTEN', `debug port could not listen on 127.0.0.1:${port}: ${(err as Error).message}`, { cause: err });
    }
    this.log.info({ host: '127.0.0.1', port: address.port }, 'debug port listening');
    return address;
  }

  /** Stops listening and drops open connections. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    this.server.closeAllConnections();
  }
}
