/**
 * Outgoing TCP connections from an address that is not the node's: the inbound side connects
 * to a workload from its client's address, so the workload (its NetworkPolicies, its logs, its
 * per-client limits) sees the client, as ztunnel does. The socket needs IP_TRANSPARENT
 * (CAP_NET_ADMIN) set before bind(), which Node cannot do: the socket is made, flagged and
 * bound through libc (`koffi`), handed to a Node `net.Socket` by fd, and Node's own connect()
 * takes it from there (libuv connects an already-open fd), so the socket emits `connect`,
 * reports errors (ECONNREFUSED, ...) and times out exactly as `net.connect`'s does.
 *
 * The replies come back to this socket only with the node's return-path rules (mangle
 * `-m socket --transparent` mark, `ip rule fwmark`, `local` route: `src/iptables/return-path.ts`).
 */
import net, { isIP, type Socket } from 'node:net';
import { MeshletError } from '../../mesh/errors.js';
import { AF_INET, AF_INET6, SOCK_STREAM, SOCK_NONBLOCK, SOCK_CLOEXEC, SOL_IP, SOL_IPV6, encodeSockaddr, errnoName, lastErrno, libc, type Libc } from '../../ops/libc.js';

// From <sys/socket.h>, <linux/in.h>, <linux/in6.h> (x86-64 and arm64 share them).
const IP_TRANSPARENT = 19;
const IPV6_TRANSPARENT = 75;
/**
 * IP_BIND_ADDRESS_NO_PORT (Linux 4.2+, IPv6 sockets too): bind() takes the address only and
 * connect() picks the port for the whole 4-tuple, so one client address can have as many
 * connections as it has 4-tuples, not one per ephemeral port.
 */
const IP_BIND_ADDRESS_NO_PORT = 24;

/** A transparent socket could not be made: `errno` tells EPERM (no CAP_NET_ADMIN) from the rest. */
export class TransparentSocketError extends MeshletError {
  readonly errno: number;
  readonly syscall: string;

  constructor(syscall: string, errno: number, what: string) {
    const name = errnoName(errno);
    super('MESHLET_ERR_TRANSPARENT_SOCKET', `${what}: ${syscall} failed: ${name} (${libc().strerror(errno)})`, { details: [name] });
    this.errno = errno;
    this.syscall = syscall;
  }

  /** The errno name, e.g. `EPERM`. */
  get errnoName(): string {
    return errnoName(this.errno);
  }

  /** True when the process may not make transparent sockets at all (no CAP_NET_ADMIN): EPERM or EACCES. */
  get notPermitted(): boolean {
    return this.errno === 1 || this.errno === 13;
  }
}

/** What to connect, and from where. */
export interface TransparentConnectOptions {
  /** The address the connection comes from (the client's); the same family as `host`. */
  readonly source: string;
  /** The workload's address, an IP literal. */
  readonly host: string;
  readonly port: number;
  readonly noDelay?: boolean;
  readonly allowHalfOpen?: boolean;
  /**
   * A source port the connection must not use: the client's own port when its connection was
   * captured on this node. conntrack holds that connection as `source:port -> host:port`
   * (redirected to the agent); a connection of the agent with the same tuple would be taken for
   * it and redirected to the agent's own listener.
   */
  readonly avoidPort?: number;
}


/**
 * Starts a TCP connection to `host`:`port` from `source` (any port), as `net.connect` would:
 * the returned socket is connecting; it emits `connect` or `error` (ECONNREFUSED, ETIMEDOUT,
 * EHOSTUNREACH, ...), and honours `setTimeout`.
 * @throws TransparentSocketError when the socket cannot be made, flagged or bound (EPERM:
 *   no CAP_NET_ADMIN); nothing is left open then.
 * @throws MeshletError MESHLET_ERR_CONFIG_INVALID when an address is not an IP literal or the
 *   two families differ.
 */
export function transparentConnect(opts: TransparentConnectOptions): Socket {
  const family = isIP(opts.host);
  if ((family !== 4 && family !== 6) || isIP(opts.source) !== family) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `transparent connect from ${JSON.stringify(opts.source)} to ${JSON.stringify(opts.host)}: two IP addresses of one family needed`);
  }
  const fd = openTransparentFd(family, opts.source, opts.avoidPort);
  let socket: Socket;
  try {
    // `manualStart`: Node's own option (child_process uses it) that skips the read(0) a socket
    // made from an fd starts with: reading an unconnected socket fails with ENOTCONN. The read
    // starts once connected, as for net.connect (afterConnect).
    socket = new net.Socket({ fd, allowHalfOpen: opts.allowHalfOpen ?? false, manualStart: true } as net.SocketConstructorOpts);
  } catch (err) {
    libc().close(fd);
    throw err;
  }
  if (opts.noDelay === true) socket.setNoDelay(true);
  return socket.connect({ host: opts.host, port: opts.port });
}

/**
 * Whether this process may connect from other addresses: undefined when it may, else why not
 * (EPERM: no CAP_NET_ADMIN; or libc could not be loaded). Opens and closes one IPv4 socket,
 * bound to the wildcard address without a port.
 */
export function transparentRefusal(): string | undefined {
  try {
    libc().close(openTransparentFd(4, '0.0.0.0'));
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * A non-blocking TCP socket with IP_TRANSPARENT, bound to `source`: without `avoidPort` the
 * port comes at connect (IP_BIND_ADDRESS_NO_PORT); with it, bind() picks the port now, and when
 * it picked `avoidPort` a second socket is bound while the first still holds that port (so the
 * kernel cannot offer it again), then the first is closed.
 */
function openTransparentFd(family: 4 | 6, source: string, avoidPort?: number): number {
  const what = `transparent socket from ${source}`;
  const addr = encodeSockaddr(family, source, 0);
  if (addr === undefined) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${what}: inet_pton rejected the address`);
  const first = bindTransparent(family, addr, avoidPort === undefined, what);
  if (avoidPort === undefined || boundPort(first, what) !== avoidPort) return first;
  try {
    return bindTransparent(family, addr, false, what);
  } finally {
    libc().close(first);
  }
}

function bindTransparent(family: 4 | 6, addr: Buffer, portAtConnect: boolean, what: string): number {
  const c = libc();
  const fd = c.socket(family === 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new TransparentSocketError('socket()', lastErrno(), what);
  try {
    const transparent = family === 6 ? [SOL_IPV6, IPV6_TRANSPARENT, 'IPV6_TRANSPARENT'] as const : [SOL_IP, IP_TRANSPARENT, 'IP_TRANSPARENT'] as const;
    setOne(c, fd, transparent[0], transparent[1], `setsockopt(${transparent[2]})`, what);
    if (portAtConnect) setOne(c, fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 'setsockopt(IP_BIND_ADDRESS_NO_PORT)', what);
    if (c.bind(fd, addr, addr.length) !== 0) throw new TransparentSocketError('bind()', lastErrno(), what);
    return fd;
  } catch (err) {
    c.close(fd);
    throw err;
  }
}

/** The port `fd` is bound to (getsockname). */
function boundPort(fd: number, what: string): number {
  const buf = Buffer.alloc(28);
  const len = [28];
  if (libc().getsockname(fd, buf, len) !== 0) {
    const errno = lastErrno();
    libc().close(fd);
    throw new TransparentSocketError('getsockname()', errno, what);
  }
  return buf.readUInt16BE(2);
}

function setOne(c: Libc, fd: number, level: number, name: number, call: string, what: string): void {
  if (c.setsockopt(fd, level, name, [1], 4) !== 0) throw new TransparentSocketError(call, lastErrno(), what);
}
