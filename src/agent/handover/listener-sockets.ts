/**
 * Every listening socket of an agent, held by its primary process: the data listeners in sets
 * (one set per worker: outbound and inbound on IPv4 and, where the host has it, IPv6, and the
 * tunnel; each set its own SO_REUSEPORT socket, so the kernel spreads connections between
 * workers) and the ops ports (readiness, metrics, admin). Opened fresh, or adopted from the
 * agent being replaced (the handover), in which case no listener ever closes.
 *
 * The primary keeps every descriptor for its lifetime: a worker that dies and restarts gets the
 * same sockets back (connections queued meanwhile wait for it instead of being reset).
 */
import { isIP, type AddressInfo } from 'node:net';
import { MeshletError } from '../../mesh/errors.js';
import { libc } from '../../ops/libc.js';
import type { AgentConfig } from '../config.js';
import type { ListenerFds } from '../proxy/data-plane.js';
import type { ListenerAddresses } from '../proxy/data-path.js';
import { closeSocketFd, openReuseportSocket, SocketCallError } from '../workers/reuseport-socket.js';
import { entriesProblem, OPS_ROLES, type ListenerEntry, type ListenerRole, type RolePorts } from './handover-protocol.js';
import { closeFds, socketFacts } from './scm-rights.js';

/** One held socket with what it is for. */
interface Held extends ListenerEntry {
  readonly fd: number;
}

/** The configured port of each role (0: any free one, in tests). */
export function rolePorts(config: AgentConfig): RolePorts {
  const p = config.ports;
  return { outbound: p.outbound, inbound: p.inbound, tunnel: p.tunnel, readiness: p.readiness, metrics: p.metrics, admin: p.admin };
}

/** The agent's listening sockets. */
export class ListenerSockets {
  private readonly held: Held[];
  private closed = false;

  private constructor(held: Held[]) {
    this.held = held;
  }

  /**
   * Opens `sets` data sets and the readiness port, and with `allOps` the admin and metrics
   * ports too (a handover passes all three), all SO_REUSEPORT and listening.
   */
  static open(config: AgentConfig, sets: number, allOps: boolean): ListenerSockets {
    const held: Held[] = [];
    try {
      openOps(config, held, allOps);
      const ipv6 = openSet(config, held, 0, undefined);
      for (let s = 1; s < sets; s++) openSet(config, held, s, ipv6);
      return new ListenerSockets(held);
    } catch (err) {
      closeFds(held.map((h) => h.fd));
      throw err;
    }
  }

  /**
   * Adopts handed-over sockets after checking each is a listening TCP socket on the address its
   * entry names, and that together they are a whole listener set for `config`; then opens more
   * data sets when this agent runs more workers than the old one had sets.
   * @throws MeshletError MESHLET_ERR_HANDOVER naming what is wrong (every fd is then closed).
   */
  static adopt(config: AgentConfig, entries: readonly ListenerEntry[], fds: readonly number[], sets: number): ListenerSockets {
    const held: Held[] = [];
    try {
      if (entries.length !== fds.length) throw new MeshletError('MESHLET_ERR_HANDOVER', `handover: ${fds.length} sockets passed for ${entries.length} entries`);
      const problem = entriesProblem(entries, rolePorts(config));
      if (problem !== undefined) throw new MeshletError('MESHLET_ERR_HANDOVER', `handover: ${problem}`);
      entries.forEach((e, i) => {
        checkSocket(e, fds[i] as number);
        held.push({ ...e, fd: fds[i] as number });
      });
      const adopted = new ListenerSockets(held);
      const had = adopted.setCount;
      const ipv6 = held.some((h) => h.role === 'outbound' && isIP(h.host) === 6);
      for (let s = had; s < sets; s++) openSet(config, held, s, ipv6, adopted.port('outbound'), adopted.port('inbound'), adopted.port('tunnel'));
      return adopted;
    } catch (err) {
      closeFds(fds);
      for (const h of held.slice(entries.length)) closeSocketFd(h.fd);
      throw err;
    }
  }

  /** Data sets held (at least one). */
  get setCount(): number {
    return Math.max(...this.held.filter((h) => !OPS_ROLES.includes(h.role)).map((h) => h.set)) + 1;
  }

  /** The port of a role (all sets share it). */
  port(role: ListenerRole): number {
    const h = this.held.find((x) => x.role === role);
    if (h === undefined) throw new MeshletError('MESHLET_ERR_HANDOVER', `no ${role} listener held`);
    return h.port;
  }

  /** An ops port's socket, for `listen({ fd })`. */
  opsFd(role: 'readiness' | 'metrics' | 'admin'): number {
    const h = this.held.find((x) => x.role === role);
    if (h === undefined) throw new MeshletError('MESHLET_ERR_CLOSED', `no ${role} listener held (the agent opens admin and metrics sockets only with the handover on)`);
    return h.fd;
  }

  /** Data set `s` as descriptors. */
  set(s: number): ListenerFds {
    const of = (role: ListenerRole): number[] => this.held.filter((h) => h.role === role && h.set === s).map((h) => h.fd);
    return { outbound: of('outbound'), inbound: of('inbound'), tunnel: of('tunnel')[0] as number };
  }

  /** The sets worker `index` of `workers` serves: every set whose number is `index` modulo `workers`. */
  setsFor(index: number, workers: number): ListenerFds[] {
    const out: ListenerFds[] = [];
    for (let s = index; s < this.setCount; s += workers) out.push(this.set(s));
    return out;
  }

  /** Whether the capture ports listen on IPv6 too. */
  get ipv6(): boolean {
    return this.held.some((h) => h.role === 'outbound' && isIP(h.host) === 6);
  }

  /** The data listeners' addresses (set 0), as `start()` reports them. */
  addresses(): ListenerAddresses {
    const info = (h: Held): AddressInfo => ({ address: h.host, family: isIP(h.host) === 6 ? 'IPv6' : 'IPv4', port: h.port });
    const of = (role: ListenerRole): AddressInfo[] => this.held.filter((h) => h.role === role && h.set === 0).map(info);
    return { outbound: of('outbound'), inbound: of('inbound'), tunnel: of('tunnel')[0] as AddressInfo };
  }

  /** What a takeover hands over: every entry and its descriptor, in the same order. */
  entries(): { entries: ListenerEntry[]; fds: number[] } {
    return { entries: this.held.map(({ role, set, host, port }) => ({ role, set, host, port })), fds: this.held.map((h) => h.fd) };
  }

  /** Closes this process's descriptors (a server listening on one closes its own; the socket lives on while another process holds it). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeFds(this.held.map((h) => h.fd));
  }
}

function push(held: Held[], role: ListenerRole, set: number, host: string, port: number): number {
  const s = openReuseportSocket({ host, port, listen: true });
  held.push({ role, set, host, port: s.port, fd: s.fd });
  return s.port;
}

function openOps(config: AgentConfig, held: Held[], allOps: boolean): void {
  push(held, 'readiness', 0, config.bindAddress, config.ports.readiness);
  if (!allOps) return;
  push(held, 'metrics', 0, config.bindAddress, config.ports.metrics);
  push(held, 'admin', 0, config.adminAddress, config.ports.admin);
}

/**
 * Opens data set `s`. `ipv6` undefined (the first set): try `::` for the capture ports when bound
 * to 0.0.0.0 and report whether it worked; the later sets follow the first.
 */
function openSet(config: AgentConfig, held: Held[], s: number, ipv6: boolean | undefined, outboundPort?: number, inboundPort?: number, tunnelPort?: number): boolean {
  const first = held.find((h) => h.role === 'outbound');
  const bind = config.bindAddress;
  const outbound = push(held, 'outbound', s, bind, outboundPort ?? first?.port ?? config.ports.outbound);
  const inbound = push(held, 'inbound', s, bind, inboundPort ?? held.find((h) => h.role === 'inbound' && h.set !== s)?.port ?? config.ports.inbound);
  push(held, 'tunnel', s, bind, tunnelPort ?? held.find((h) => h.role === 'tunnel')?.port ?? config.ports.tunnel);
  if (bind !== '0.0.0.0' || ipv6 === false) return false;
  const mark = held.length;
  try {
    push(held, 'outbound', s, '::', outbound);
    push(held, 'inbound', s, '::', inbound);
    return true;
  } catch (err) {
    const name = err instanceof SocketCallError ? err.errnoName : '';
    // No IPv6 on this host, or (port 0: tests) the random port is taken on IPv6: IPv4 suffices.
    const skip = ipv6 === undefined && (name === 'EAFNOSUPPORT' || name === 'EADDRNOTAVAIL' || (name === 'EADDRINUSE' && (config.ports.outbound === 0 || config.ports.inbound === 0)));
    if (!skip) throw err;
    for (const h of held.splice(mark)) closeSocketFd(h.fd);
    return false;
  }
}

/** Throws unless `fd` is a listening TCP socket on the entry's address and port. */
function checkSocket(e: ListenerEntry, fd: number): void {
  const what = `handover: ${e.role} listener ${e.host}:${e.port} (fd ${fd})`;
  const facts = socketFacts(fd);
  if (facts === undefined) throw new MeshletError('MESHLET_ERR_HANDOVER', `${what}: not a socket`);
  if (!facts.stream || !facts.listening) throw new MeshletError('MESHLET_ERR_HANDOVER', `${what}: not a listening TCP socket`);
  const family = isIP(e.host);
  const want = Buffer.alloc(family === 6 ? 16 : 4);
  if (family === 0 || libc().inet_pton(family === 6 ? 10 : 2, e.host, want) !== 1) throw new MeshletError('MESHLET_ERR_HANDOVER', `${what}: not an IP address`);
  if (facts.family !== family || !facts.address.equals(want) || facts.port !== e.port) {
    throw new MeshletError('MESHLET_ERR_HANDOVER', `${what}: the socket is bound to another address (port ${facts.port})`);
  }
}
