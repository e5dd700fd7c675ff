/**
 * Reads the address a captured connection was originally sent to, before the nat REDIRECT
 * rewrote it: `getsockopt(SOL_IP, SO_ORIGINAL_DST)` for IPv4 and
 * `getsockopt(SOL_IPV6, IP6T_SO_ORIGINAL_DST)` for IPv6, called through the `koffi` FFI on the
 * socket's file descriptor (Node has no binding for it). About 3 µs a call.
 */
import type { Socket } from 'node:net';
import { formatIpv6 } from '../../mesh/address.js';
import { MeshletError } from '../../mesh/errors.js';
import type { SocketAddress } from '../../mesh/types.js';
import { AF_INET, AF_INET6, SOL_IP, SOL_IPV6, describeErrno, lastErrno, libc, socketFd } from '../../ops/libc.js';


// From <linux/in.h>, <linux/in6.h> and <linux/netfilter_ipv4.h>.
/** SO_ORIGINAL_DST and IP6T_SO_ORIGINAL_DST share the value 80. */
const SO_ORIGINAL_DST = 80;
/** sizeof(struct sockaddr_in6); sockaddr_in (16 bytes) fits in it too. */
const SOCKADDR_IN6_SIZE = 28;

// One scratch buffer and length cell for every call: the agent's JS runs on one thread and the
// call is synchronous, so they are never shared between two calls in flight.
const scratch = Buffer.alloc(SOCKADDR_IN6_SIZE);
const scratchLen = [SOCKADDR_IN6_SIZE];

/**
 * The original destination of a connection that a nat REDIRECT rule sent to us.
 * @throws MeshletError MESHLET_ERR_ORIGINAL_DST when the socket has no fd or the kernel has no
 *   conntrack entry for it.
 */
export function originalDst(socket: Socket): SocketAddress {
  const fd = socketFd(socket);
  if (fd < 0) {
    throw new MeshletError('MESHLET_ERR_ORIGINAL_DST', 'socket has no file descriptor (already closed?)');
  }
  const ipv6 = socket.remoteFamily === 'IPv6' && !(socket.remoteAddress ?? '').startsWith('::ffff:');
  return readOriginalDst(fd, ipv6);
}

/** {@link originalDst} on a raw fd; `ipv6` picks the IPv6 getsockopt level. */
export function readOriginalDst(fd: number, ipv6: boolean): SocketAddress {
  const call = libc().getsockopt;
  scratchLen[0] = SOCKADDR_IN6_SIZE;
  const rc = call(fd, ipv6 ? SOL_IPV6 : SOL_IP, SO_ORIGINAL_DST, scratch, scratchLen);
  if (rc !== 0) {
    const errno = lastErrno();
    throw new MeshletError(
      'MESHLET_ERR_ORIGINAL_DST',
      `getsockopt(${ipv6 ? 'SOL_IPV6' : 'SOL_IP'}, SO_ORIGINAL_DST) on fd ${fd} failed: ${describeErrno(errno)}`,
    );
  }
  return decodeSockaddr(scratch);
}

/** Decodes a `struct sockaddr_in` or `struct sockaddr_in6` (family in host byte order). */
export function decodeSockaddr(buf: Buffer): SocketAddress {
  const family = buf.readUInt16LE(0);
  const port = buf.readUInt16BE(2);
  if (family === AF_INET) {
    return { address: `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`, port, family: 4 };
  }
  if (family === AF_INET6) {
    const words: number[] = [];
    for (let i = 0; i < 8; i++) words.push(buf.readUInt16BE(8 + i * 2));
    return { address: formatIpv6(words), port, family: 6 };
  }
  throw new MeshletError('MESHLET_ERR_ORIGINAL_DST', `unexpected address family ${family} from SO_ORIGINAL_DST`);
}
