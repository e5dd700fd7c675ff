/**
 * An HTTP/1.1 Upgrade (WebSocket and any other token) toward a workload, for a tunnel
 * extended CONNECT (RFC 8441: `:method CONNECT`, `:protocol <token>`, `meshlet-dst`). The
 * destination agent writes the application's upgrade request to the workload on a fresh
 * connection (an upgraded socket is never pooled). A `101` is relayed as `200` with
 * `meshlet-status: 101` and the workload's headers, and from then on the tunnel stream and the
 * socket are spliced as bytes (half-close and resets as for L4). Any other answer is relayed
 * as a plain response and the stream ends.
 */
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { connectErrorKind, spliceEndKind, type ErrorKind } from '../policy/respond.js';
import { splice } from '../proxy/splice.js';
import type { RequestHead, RequestTarget, UpstreamResponse } from './exchange.js';
import { endToEnd, STATUS_HEADER } from './wire.js';

/** How an upgrade ended, for the request record. */
export interface UpgradeEnd {
  readonly status: number;
  readonly failure?: ErrorKind;
  /** Bytes from the client to the workload and back, after the upgrade. */
  readonly requestBytes: number;
  readonly responseBytes: number;
}

/** What {@link upgradeWorkload} needs. */
export interface UpgradeRequest {
  readonly stream: ServerHttp2Stream;
  readonly target: RequestTarget;
  /** The head toward the workload (forwarding headers added); method and proto are ignored. */
  readonly head: RequestHead;
  /** The upgrade token (`:protocol`), e.g. `websocket`. */
  readonly protocol: string;
  readonly connectTimeoutMs: number;
  /** A response that is not 101: answered as a normal response; `counts` fills in as its body flows. */
  readonly answer: (res: UpstreamResponse, counts: { readonly responseBytes: number }) => void;
  /** No answer from the workload (a connect failure, a reset): the caller answers for the agent. */
  readonly fail: (kind: ErrorKind) => void;
  /** Once, when an upgraded exchange is over (not after `answer` or `fail`). */
  readonly done: (end: UpgradeEnd) => void;
}

/** Sends the upgrade request; relays the 101 and splices, or answers otherwise. */
export function upgradeWorkload(u: UpgradeRequest): void {
  const { stream, target, head } = u;
  let settled = false;
  let connected = false;
  const req: ClientRequest = http.request({
    host: target.address,
    port: target.port,
    method: 'GET',
    path: head.path,
    agent: false,
    headers: { ...head.headers, host: head.authority, connection: 'Upgrade', upgrade: u.protocol },
  });
  req.on('socket', (socket: Socket) => {
    socket.setTimeout(u.connectTimeoutMs);
    socket.once('timeout', () => req.destroy(Object.assign(new Error('no answer to the upgrade request in time'), { code: connected ? 'EHEADERTIMEOUT' : 'ETIMEDOUT' })));
    socket.once('connect', () => (connected = true));
  });
  const onClientGone = (): void => {
    if (!settled) req.destroy();
  };
  stream.once('close', onClientGone);
  req.once('upgrade', (res: IncomingMessage, socket: Socket, rest: Buffer) => {
    settled = true;
    stream.off('close', onClientGone);
    socket.setTimeout(0);
    if (stream.destroyed) {
      socket.destroy();
      u.done({ status: 0, failure: 'downstream_reset', requestBytes: 0, responseBytes: 0 });
      return;
    }
    stream.respond({ ...endToEnd(res.headers), ':status': 200, [STATUS_HEADER]: '101' });
    // Upgraded bytes only: the heads already crossed, `rest` is read but not yet relayed.
    const wroteBefore = socket.bytesWritten;
    const readBefore = socket.bytesRead - rest.length;
    if (rest.length > 0) socket.unshift(rest);
    splice(stream, socket, (outcome) => {
      const failure = spliceEndKind(outcome);
      u.done({ status: 101, ...(failure === undefined ? {} : { failure }), requestBytes: socket.bytesWritten - wroteBefore, responseBytes: socket.bytesRead - readBefore });
    });
  });
  req.once('response', (res: IncomingMessage) => {
    settled = true;
    stream.off('close', onClientGone);
    res.socket.setTimeout(0);
    const trailers = new Promise<Record<string, string>>((resolve) => res.once('end', () => resolve({})));
    const counts = { responseBytes: 0 };
    u.answer({ status: res.statusCode ?? 502, headers: endToEnd(res.headers), body: res, trailers }, counts);
    res.on('data', (c: Buffer) => (counts.responseBytes += c.length));
  });
  req.once('error', (err: NodeJS.ErrnoException) => {
    if (settled) return;
    settled = true;
    stream.off('close', onClientGone);
    if (stream.destroyed) {
      u.done({ status: 0, failure: 'downstream_reset', requestBytes: 0, responseBytes: 0 });
      return;
    }
    u.fail(!connected ? connectErrorKind(err.code) : err.code === 'EHEADERTIMEOUT' ? 'idle_timeout' : 'upstream_reset');
  });
  req.end();
}
