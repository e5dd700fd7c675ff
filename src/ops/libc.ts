/**
 * The libc calls Node has no binding for, made through the `koffi` FFI: one loader, one set of
 * signatures and one way to report errno for every caller (reuseport listeners,
 * SO_ORIGINAL_DST, SO_LINGER). libc is loaded on first use, so a process that never needs it
 * (the controller, the CLI) never loads it. A call costs about 3 µs.
 */
import koffi from 'koffi';
import type { Socket } from 'node:net';

/** The libc functions meshlet calls. Integer options go in as arrays of C ints. */
export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: number[], len: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, len: number[]): number;
  bind(fd: number, addr: Buffer, len: number): number;
  listen(fd: number, backlog: number): number;
  getsockname(fd: number, addr: Buffer, len: number[]): number;
  inet_pton(af: number, src: string, dst: Buffer): number;
  close(fd: number): number;
  strerror(errnum: number): string;
}

let bound: Libc | undefined;

/** The bindings, loaded on first use. */
export function libc(): Libc {
  if (bound === undefined) {
    const lib = koffi.load('libc.so.6');
    bound = {
      socket: lib.func('int socket(int domain, int type, int protocol)'),
      setsockopt: lib.func('int setsockopt(int fd, int level, int optname, const int *optval, uint32_t optlen)'),
      getsockopt: lib.func('int getsockopt(int fd, int level, int optname, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)'),
      bind: lib.func('int bind(int fd, const uint8_t *addr, uint32_t addrlen)'),
      listen: lib.func('int listen(int fd, int backlog)'),
      getsockname: lib.func('int getsockname(int fd, _Out_ uint8_t *addr, _Inout_ uint32_t *addrlen)'),
      inet_pton: lib.func('int inet_pton(int af, const char *src, _Out_ uint8_t *dst)'),
      close: lib.func('int close(int fd)'),
      strerror: lib.func('const char *strerror(int errnum)'),
    } as Libc;
  }
  return bound;
}

let trimmer: ((pad: number) => number) | null | undefined;

/**
 * glibc's `malloc_trim`, which hands the heap's free memory back to the kernel (`idle-trim.ts`),
 * or undefined where the C library has none (musl). Bound apart from {@link libc} so its
 * absence disables only itself.
 */
export function mallocTrim(): ((pad: number) => number) | undefined {
  if (trimmer === undefined) {
    try {
      trimmer = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)') as (pad: number) => number;
    } catch {
      trimmer = null;
    }
  }
  return trimmer ?? undefined;
}

/** errno of the last failed call on this thread. */
export function lastErrno(): number {
  return koffi.errno();
}

/** Names of the errno values our calls meet, so messages read like Node's (`EADDRINUSE`). */
const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: 'EPERM', 2: 'ENOENT', 9: 'EBADF', 13: 'EACCES', 22: 'EINVAL', 24: 'EMFILE', 88: 'ENOTSOCK', 92: 'ENOPROTOOPT',
  97: 'EAFNOSUPPORT', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL', 107: 'ENOTCONN',
};

/** `EADDRINUSE`, or `errno 123` for one we have no name for. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/** `EADDRINUSE (Address already in use)`: the name and libc's own words. */
export function describeErrno(errno: number): string {
  return `${errnoName(errno)} (${libc().strerror(errno)})`;
}

/** The OS file descriptor of a net.Socket, or -1 when it has none (closed, or not yet connected). */
export function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

// From <asm-generic/socket.h> (x86-64 and arm64 share them).
const SOL_SOCKET = 1;
const SO_LINGER = 13;
/** struct linger { int l_onoff = 1; int l_linger = 0; }: close() sends RST and drops unsent data. */
const LINGER_RESET = [1, 0];

/**
 * Makes the socket's close a reset: SO_LINGER with a zero timeout, so close() sends RST and
 * drops what is still unsent. For the case Node's `resetAndDestroy()` cannot handle (see
 * `abort` in splice). False when the socket has no fd or the call failed; the caller then
 * closes it the ordinary way.
 */
export function setLingerReset(socket: Socket): boolean {
  const fd = socketFd(socket);
  if (fd < 0) return false;
  try {
    return libc().setsockopt(fd, SOL_SOCKET, SO_LINGER, LINGER_RESET, 8) === 0;
  } catch {
    // libc could not be loaded (not Linux/glibc): fall back to an ordinary close.
    return false;
  }
}
