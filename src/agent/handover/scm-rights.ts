/**
 * Unix-socket plumbing of the handover that Node has no API for: sending file descriptors with
 * SCM_RIGHTS (`sendmsg`), receiving them (`recvmsg`, on koffi's thread pool so the event loop
 * never blocks), the peer's credentials (SO_PEERCRED), and what a received socket is
 * (SO_ACCEPTCONN, getsockname). All through the one libc module.
 */
import { endianness } from 'node:os';
import { MeshletError } from '../../mesh/errors.js';
import { AF_INET, AF_INET6, SOCK_STREAM, SOCK_CLOEXEC, SOL_SOCKET, describeErrno, lastErrno, libc, type MsgHdr } from '../../ops/libc.js';

// From <sys/socket.h>, <asm-generic/socket.h> (x86-64 and arm64 share them).
const AF_UNIX = 1;
const SCM_RIGHTS = 1;
const SO_TYPE = 3;
const SO_PEERCRED = 17;
const SO_RCVTIMEO = 20;
const SO_ACCEPTCONN = 30;
const MSG_CTRUNC = 0x8;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
/** sizeof(struct cmsghdr) on 64-bit Linux: size_t len, int level, int type. */
const CMSGHDR_SIZE = 16;
/** sizeof(struct sockaddr_un): sun_family then a 108-byte path. */
const SOCKADDR_UN_SIZE = 110;
const SUN_PATH_MAX = 107;

function fail(call: string, what: string): never {
  throw new MeshletError('MESHLET_ERR_HANDOVER', `${what}: ${call}() failed: ${describeErrno(lastErrno())}`);
}

function writeFamily(buf: Buffer, family: number): void {
  if (endianness() === 'LE') buf.writeUInt16LE(family, 0);
  else buf.writeUInt16BE(family, 0);
}

/** A blocking, close-on-exec unix stream socket connected to `path`; its errno name when the connect fails. */
export function connectUnix(path: string, timeoutMs: number): number | { errno: string } {
  if (Buffer.byteLength(path) > SUN_PATH_MAX) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `handover socket ${JSON.stringify(path)}: longer than ${SUN_PATH_MAX} bytes`);
  const c = libc();
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail('socket', `handover socket ${path}`);
  const addr = Buffer.alloc(SOCKADDR_UN_SIZE);
  writeFamily(addr, AF_UNIX);
  addr.write(path, 2);
  if (c.connect(fd, addr, addr.length) !== 0) {
    const errno = describeErrno(lastErrno()).split(' ')[0] as string;
    c.close(fd);
    return { errno };
  }
  // struct timeval { long tv_sec; long tv_usec; } as four C ints (little-endian halves).
  const sec = Math.floor(timeoutMs / 1000);
  const usec = (timeoutMs % 1000) * 1000;
  const tv = endianness() === 'LE' ? [sec, 0, usec, 0] : [0, sec, 0, usec];
  if (c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16) !== 0) {
    c.close(fd);
    fail('setsockopt(SO_RCVTIMEO)', `handover socket ${path}`);
  }
  return fd;
}

/** Sends `data` with `fds` attached (none: a plain send). Throws on a short or failed send. */
export function sendWithFds(fd: number, data: Buffer, fds: readonly number[] = []): void {
  const control = fds.length === 0 ? null : Buffer.alloc(CMSGHDR_SIZE + 8 * Math.ceil((4 * fds.length) / 8));
  if (control !== null) {
    control.writeBigUInt64LE(BigInt(CMSGHDR_SIZE + 4 * fds.length), 0);
    control.writeInt32LE(SOL_SOCKET, 8);
    control.writeInt32LE(SCM_RIGHTS, 12);
    fds.forEach((f, i) => control.writeInt32LE(f, CMSGHDR_SIZE + 4 * i));
  }
  const msg: MsgHdr = { msg_name: null, msg_namelen: 0, msg_iov: [{ iov_base: data, iov_len: data.length }], msg_iovlen: 1, msg_control: control, msg_controllen: control?.length ?? 0, msg_flags: 0 };
  const sent = Number(libc().sendmsg(fd, msg, MSG_NOSIGNAL));
  if (sent < 0) fail('sendmsg', 'handover socket');
  if (sent !== data.length) throw new MeshletError('MESHLET_ERR_HANDOVER', `handover socket: sendmsg() sent ${sent} of ${data.length} bytes`);
}

/** What one recvmsg got: the bytes (empty: the peer closed) and the descriptors that came with them. */
export interface Received {
  readonly data: Buffer;
  readonly fds: number[];
}

/** One recvmsg of at most `max` bytes, off the event loop. Received descriptors are close-on-exec. */
export function receiveWithFds(fd: number, max: number): Promise<Received> {
  const data = Buffer.alloc(max);
  const control = Buffer.alloc(CMSGHDR_SIZE + 4 * 256);
  const msg: MsgHdr = { msg_name: null, msg_namelen: 0, msg_iov: [{ iov_base: data, iov_len: max }], msg_iovlen: 1, msg_control: control, msg_controllen: control.length, msg_flags: 0 };
  return new Promise((resolve, reject) => {
    libc().recvmsgAsync(fd, msg, MSG_CMSG_CLOEXEC, (err, result) => {
      if (err !== null && err !== undefined) return reject(new MeshletError('MESHLET_ERR_HANDOVER', `handover socket: recvmsg() failed: ${String(err)}`));
      const n = Number(result);
      // errno of a call run on another thread is not ours to read: name the usual one.
      if (n < 0) return reject(new MeshletError('MESHLET_ERR_HANDOVER', 'handover socket: recvmsg() failed (timed out waiting for the old agent, or the socket broke)'));
      const fds = controlFds(control, Number(msg.msg_controllen));
      if ((msg.msg_flags & MSG_CTRUNC) !== 0) {
        closeFds(fds);
        return reject(new MeshletError('MESHLET_ERR_HANDOVER', 'handover socket: more descriptors than fit were passed (MSG_CTRUNC)'));
      }
      resolve({ data: data.subarray(0, n), fds });
    });
  });
}

/** The descriptors in a control buffer's SCM_RIGHTS messages. */
export function controlFds(control: Buffer, length: number): number[] {
  const fds: number[] = [];
  let off = 0;
  while (off + CMSGHDR_SIZE <= length) {
    const len = Number(control.readBigUInt64LE(off));
    if (len < CMSGHDR_SIZE || off + len > length) break;
    if (control.readInt32LE(off + 8) === SOL_SOCKET && control.readInt32LE(off + 12) === SCM_RIGHTS) {
      for (let p = off + CMSGHDR_SIZE; p + 4 <= off + len; p += 4) fds.push(control.readInt32LE(p));
    }
    off += 8 * Math.ceil(len / 8);
  }
  return fds;
}

/** Closes descriptors (received ones nobody will use). */
export function closeFds(fds: readonly number[]): void {
  for (const f of fds) if (f >= 0) libc().close(f);
}

/** The uid of the process at the other end of a unix socket (SO_PEERCRED), or undefined when unknown. */
export function peerUid(fd: number): number | undefined {
  const buf = Buffer.alloc(12);
  if (libc().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf, [12]) !== 0) return undefined;
  return buf.readUInt32LE(4);
}

/** A socket's local address as the kernel has it. */
export interface SocketFacts {
  readonly stream: boolean;
  readonly listening: boolean;
  readonly family: 4 | 6 | 0;
  /** The address bytes (4 or 16), to compare with an address literal. */
  readonly address: Buffer;
  readonly port: number;
}

/** What a descriptor is: a listening TCP socket on which address, or something else. */
export function socketFacts(fd: number): SocketFacts | undefined {
  const c = libc();
  const int = Buffer.alloc(4);
  if (c.getsockopt(fd, SOL_SOCKET, SO_TYPE, int, [4]) !== 0) return undefined;
  const stream = int.readInt32LE(0) === SOCK_STREAM;
  if (c.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, int, [4]) !== 0) return undefined;
  const listening = int.readInt32LE(0) === 1;
  const sa = Buffer.alloc(28);
  if (c.getsockname(fd, sa, [28]) !== 0) return undefined;
  const fam = endianness() === 'LE' ? sa.readUInt16LE(0) : sa.readUInt16BE(0);
  const family = fam === AF_INET ? 4 : fam === AF_INET6 ? 6 : 0;
  const address = family === 4 ? Buffer.from(sa.subarray(4, 8)) : family === 6 ? Buffer.from(sa.subarray(8, 24)) : Buffer.alloc(0);
  return { stream, listening, family, address, port: sa.readUInt16BE(2) };
}
