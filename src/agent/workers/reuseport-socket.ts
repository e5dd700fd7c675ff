/**
 * Listening TCP sockets with SO_REUSEPORT, made through libc with `koffi` (Node sets
 * SO_REUSEPORT only for cluster workers it manages itself). Several worker processes each
 * bind their own socket on the same port and the kernel spreads incoming connections between
 * them; the fd is then handed to `server.listen({ fd })`.
 */
import { isIP } from 'node:net';
import { MeshletError } from '../../mesh/errors.js';
import { AF_INET, AF_INET6, SOCK_STREAM, SOCK_NONBLOCK, SOCK_CLOEXEC, SOL_SOCKET, SOL_IPV6, encodeSockaddr, errnoName, lastErrno, libc, type Libc } from '../../ops/libc.js';

// From <sys/socket.h>, <netinet/in.h>, <asm-generic/socket.h> (x86-64 and arm64 share them).
const SO_REUSEADDR = 2;
const SO_REUSEPORT = 15;
const IPV6_V6ONLY = 26;
/** sizeof(struct sockaddr_in6); sockaddr_in (16 bytes) fits in it. */
const SOCKADDR_SIZE = 28;
/** The kernel caps it at net.core.somaxconn anyway; Node uses 511 too. */
const DEFAULT_BACKLOG = 511;

/** A libc call failed: `code` is the errno name (EADDRINUSE, ...), as on Node's own errors. */
export class SocketCallError extends MeshletError {
  readonly errno: number;
  readonly syscall: string;

  constructor(syscall: string, errno: number, what: string) {
    const name = errnoName(errno);
    super('MESHLET_ERR_LISTEN', `${what}: ${syscall}() failed: ${name} (${libc().strerror(errno)})`, { details: [name] });
    this.errno = errno;
    this.syscall = syscall;
  }

  /** The errno name, e.g. `EADDRINUSE`. */
  get errnoName(): string {
    return errnoName(this.errno);
  }
}

/** What to open. */
export interface ReuseportSocketOptions {
  /** An IPv4 or IPv6 address literal. */
  readonly host: string;
  /** 0: the kernel picks one (read it back from the result). */
  readonly port: number;
  /** false: bind only (reserves the port in the SO_REUSEPORT group without taking connections). */
  readonly listen: boolean;
  readonly backlog?: number;
}

/** An open socket: its fd and the port it is bound to. */
export interface ReuseportSocket {
  readonly fd: number;
  readonly host: string;
  readonly port: number;
}

/**
 * Opens a non-blocking, close-on-exec TCP socket with SO_REUSEADDR and SO_REUSEPORT (and
 * IPV6_V6ONLY for IPv6, so `::` and `0.0.0.0` are two listeners as elsewhere in the agent),
 * binds it and, unless `listen` is false, listens.
 * @throws SocketCallError naming the call, the errno and the address.
 */
export function openReuseportSocket(opts: ReuseportSocketOptions): ReuseportSocket {
  const c = libc();
  const ip = isIP(opts.host);
  if (ip !== 4 && ip !== 6) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${JSON.stringify(opts.host)}: not an IP address`);
  const family: 4 | 6 = ip;
  const what = `listener ${family === 6 ? `[${opts.host}]` : opts.host}:${opts.port}`;
  const fd = c.socket(family === 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SocketCallError('socket', lastErrno(), what);
  try {
    setOption(c, fd, SOL_SOCKET, SO_REUSEADDR, 'setsockopt(SO_REUSEADDR)', what);
    setOption(c, fd, SOL_SOCKET, SO_REUSEPORT, 'setsockopt(SO_REUSEPORT)', what);
    if (family === 6) setOption(c, fd, SOL_IPV6, IPV6_V6ONLY, 'setsockopt(IPV6_V6ONLY)', what);
    const addr = encodeSockaddr(family, opts.host, opts.port);
    if (addr === undefined) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${opts.host}: inet_pton rejected it`);
    if (c.bind(fd, addr, addr.length) !== 0) throw new SocketCallError('bind', lastErrno(), what);
    if (opts.listen && c.listen(fd, opts.backlog ?? DEFAULT_BACKLOG) !== 0) throw new SocketCallError('listen', lastErrno(), what);
    return { fd, host: opts.host, port: boundPort(c, fd, what) };
  } catch (err) {
    c.close(fd);
    throw err;
  }
}

/** Closes a socket opened here that was not handed to a Node server (which then owns it). */
export function closeSocketFd(fd: number): void {
  if (fd >= 0) libc().close(fd);
}

function setOption(c: Libc, fd: number, level: number, name: number, call: string, what: string): void {
  if (c.setsockopt(fd, level, name, [1], 4) !== 0) throw new SocketCallError(call, lastErrno(), what);
}

function boundPort(c: Libc, fd: number, what: string): number {
  const buf = Buffer.alloc(SOCKADDR_SIZE);
  const len = [SOCKADDR_SIZE];
  if (c.getsockname(fd, buf, len) !== 0) throw new SocketCallError('getsockname', lastErrno(), what);
  return buf.readUInt16BE(2);
}
