/**
 * systemd's readiness protocol (`sd_notify(3)`): one datagram of `KEY=value` lines to the unix
 * socket named by `$NOTIFY_SOCKET`, which systemd sets for a `Type=notify` service. The agent
 * says `READY=1` once it serves, and after a hot upgrade (`systemctl reload`) the new process
 * says `MAINPID=<its pid>` so systemd follows it when the old one exits.
 */
import { endianness } from 'node:os';
import { libc } from './libc.js';

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(struct sockaddr_un). */
const SOCKADDR_UN_SIZE = 110;

/** The socket address of `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace), or undefined when unusable. */
export function notifyAddress(socket: string | undefined): Buffer | undefined {
  if (socket === undefined || socket === '' || !(socket.startsWith('/') || socket.startsWith('@'))) return undefined;
  const path = Buffer.from(socket);
  if (path.length > SOCKADDR_UN_SIZE - 3) return undefined;
  // An abstract address starts with a NUL and its length counts exactly its bytes.
  if (socket.startsWith('@')) path[0] = 0;
  const addr = Buffer.alloc(2 + path.length + (socket.startsWith('@') ? 0 : 1));
  if (endianness() === 'LE') addr.writeUInt16LE(AF_UNIX, 0);
  else addr.writeUInt16BE(AF_UNIX, 0);
  path.copy(addr, 2);
  return addr;
}

/**
 * Sends `state` (e.g. `READY=1`, `MAINPID=123\nREADY=1`) to systemd. False when not run by
 * systemd (no `$NOTIFY_SOCKET`) or the send failed: the protocol is advisory for the caller.
 */
export function sdNotify(state: string, socket: string | undefined = process.env['NOTIFY_SOCKET']): boolean {
  const addr = notifyAddress(socket);
  if (addr === undefined) return false;
  const c = libc();
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  try {
    const msg = Buffer.from(state);
    return Number(c.sendto(fd, msg, msg.length, MSG_NOSIGNAL, addr, addr.length)) === msg.length;
  } finally {
    c.close(fd);
  }
}
