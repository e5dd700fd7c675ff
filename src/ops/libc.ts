/**
 * The libc calls Node has no binding for, made through the `koffi` FFI: one loader, one set of
 * signatures and one way to report errno for every caller (reuseport listeners,
 * SO_ORIGINAL_DST, SO_LINGER). libc is loaded on first use, so a process that never needs it
 * (the controller, the CLI) never loads it. A call costs about 3 µs.
 */
import koffi from 'koffi';
import type { Socket } from 'node:net';
import { endianness } from 'node:os';

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
  connect(fd: number, addr: Buffer, len: number): number;
  sendto(fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrLen: number): number;
  /** `fcntl(fd, F_DUPFD_CLOEXEC, 0)`: a close-on-exec duplicate, or -1. */
  dupCloexec(fd: number): number;
  /** `sendmsg` with one data buffer and an optional control buffer (SCM_RIGHTS). */
  sendmsg(fd: number, msg: MsgHdr, flags: number): number;
  /** `recvmsg` on the calling thread (blocks a blocking fd). */
  recvmsg(fd: number, msg: MsgHdr, flags: number): number;
  /** `recvmsg` on a thread of koffi's pool, so a blocking fd never blocks the event loop. */
  recvmsgAsync(fd: number, msg: MsgHdr, flags: number, done: (err: unknown, result: number) => void): void;
}

/** struct msghdr as koffi marshals it: one iovec, control data in a Buffer (lengths updated by recvmsg). */
export interface MsgHdr {
  msg_name: null;
  msg_namelen: number;
  msg_iov: { iov_base: Buffer; iov_len: number }[];
  msg_iovlen: number;
  msg_control: Buffer | null;
  msg_controllen: number;
  msg_flags: number;
}

let bound: Libc | undefined;

/** The bindings, loaded on first use. */
export function libc(): Libc {
  if (bound === undefined) {
    const lib = koffi.load('libc.so.6');
    const iovec = koffi.struct('meshlet_iovec', { iov_base: 'void *', iov_len: 'size_t' });
    koffi.struct('meshlet_msghdr', {
      msg_name: 'void *', msg_namelen: 'uint32_t', msg_iov: koffi.pointer(iovec), msg_iovlen: 'size_t',
      msg_control: 'void *', msg_controllen: 'size_t', msg_flags: 'int',
    });
    const recvmsg = lib.func('intptr_t recvmsg(int fd, _Inout_ meshlet_msghdr *msg, int flags)');
    const fcntl = lib.func('int fcntl(int fd, int cmd, ...)');
    bound = {
      // F_DUPFD_CLOEXEC (1030): a copy a forked worker does not inherit unless given it.
      dupCloexec: (fd) => fcntl(fd, 1030, 'int', 0) as number,
      connect: lib.func('int connect(int fd, const uint8_t *addr, uint32_t addrlen)'),
      sendto: lib.func('intptr_t sendto(int fd, const uint8_t *buf, size_t len, int flags, const uint8_t *addr, uint32_t addrlen)'),
      sendmsg: lib.func('intptr_t sendmsg(int fd, const meshlet_msghdr *msg, int flags)'),
      recvmsg,
      recvmsgAsync: (fd, msg, flags, done) => recvmsg.async(fd, msg, flags, done),
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

// From <sys/socket.h>, <asm-generic/socket.h>, <linux/in.h>, <linux/in6.h> (x86-64 and arm64
// share them): the one copy of the socket constants the libc callers share.
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SOL_IP = 0;
export const SOL_IPV6 = 41;
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

/**
 * A `struct sockaddr_in` (16 bytes) or `struct sockaddr_in6` (28 bytes) for `host`:`port`, as
 * bind() and connect() take it; undefined when inet_pton rejects `host` (not an address of
 * that family).
 */
export function encodeSockaddr(family: 4 | 6, host: string, port: number): Buffer | undefined {
  const af = family === 6 ? AF_INET6 : AF_INET;
  const buf = Buffer.alloc(family === 6 ? 28 : 16);
  // sa_family is in host byte order, the port in network byte order.
  if (endianness() === 'LE') buf.writeUInt16LE(af, 0);
  else buf.writeUInt16BE(af, 0);
  buf.writeUInt16BE(port, 2);
  const raw = Buffer.alloc(16);
  if (libc().inet_pton(af, host, raw) !== 1) return undefined;
  raw.copy(buf, family === 6 ? 8 : 4, 0, family === 6 ? 16 : 4);
  return buf;
}

/** `IPPROTO_TCP` (<linux/in.h>) and `TCP_INFO` (<linux/tcp.h>). */
const IPPROTO_TCP = 6;
const TCP_INFO = 11;
/**
 * Offsets of `tcpi_data_segs_in` and `tcpi_data_segs_out` in `struct tcp_info` (<linux/tcp.h>,
 * Linux 4.6 and later): 8 bytes of u8 fields, 24 u32 (rto .. total_retrans), 4 u64 (pacing_rate
 * .. bytes_received), then u32 segs_out, segs_in, notsent_bytes, min_rtt, data_segs_in,
 * data_segs_out. A kernel that fills less than that (older) gives undefined.
 */
const TCPI_DATA_SEGS_IN = 152;
const TCPI_DATA_SEGS_OUT = 156;
const TCP_INFO_BYTES = 256;
/** Reused by every call: one buffer and one length cell, never allocated per socket. */
const tcpInfo = Buffer.alloc(TCP_INFO_BYTES);
const tcpInfoLen = [TCP_INFO_BYTES];
let tcpInfoUnavailable = false;

/**
 * Data segments the kernel received and sent on a TCP socket so far (`tcpi_data_segs_in`,
 * `tcpi_data_segs_out`, 32-bit counters that wrap), written into `out`; false when the socket has
 * no fd, the call failed, or this kernel or libc does not report them. One `getsockopt` per call.
 */
export function tcpDataSegments(socket: Socket, out: { in: number; out: number }): boolean {
  if (tcpInfoUnavailable) return false;
  const fd = socketFd(socket);
  if (fd < 0) return false;
  try {
    tcpInfoLen[0] = TCP_INFO_BYTES;
    if (libc().getsockopt(fd, IPPROTO_TCP, TCP_INFO, tcpInfo, tcpInfoLen) !== 0) return false;
    if ((tcpInfoLen[0] ?? 0) < TCPI_DATA_SEGS_OUT + 4) {
      tcpInfoUnavailable = true;
      return false;
    }
  } catch {
    // libc could not be loaded (not Linux/glibc): no segment counts, ever.
    tcpInfoUnavailable = true;
    return false;
  }
  // Native byte order, as the kernel wrote the struct.
  const le = endianness() === 'LE';
  out.in = le ? tcpInfo.readUInt32LE(TCPI_DATA_SEGS_IN) : tcpInfo.readUInt32BE(TCPI_DATA_SEGS_IN);
  out.out = le ? tcpInfo.readUInt32LE(TCPI_DATA_SEGS_OUT) : tcpInfo.readUInt32BE(TCPI_DATA_SEGS_OUT);
  return true;
}
