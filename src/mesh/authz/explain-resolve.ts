/**
 * The names in a `policy explain` query resolved against the mesh's data: a source to an
 * identity and an address, a destination to the workloads (and ports) that would receive the
 * traffic, and a workload port to its declared protocol. Pure; used by `explain-query.ts`.
 *
 * Every error is a MeshletError `MESHLET_ERR_CONFIG_INVALID` naming the query field and its
 * value: the admin API answers 400 with it, the CLI exits 64.
 */
import { parseAuthority } from '../address.js';
import { MeshletError } from '../errors.js';
import { parseSpiffeId } from '../identity.js';
import { HTTP_PROTOCOLS, portProtocol, type PortProtocol } from '../port-protocol.js';
import { isDnsLabel, isDnsSubdomain } from '../validate/formats.js';
import { canonicalAddress } from '../workload-address.js';
import type { ServiceInfo, ServicePort, WorkloadInfo } from '../types.js';
import type { AuthorizationPolicyData } from './types.js';

/** A Pod or Workload outside the mesh: a source by name gets its address and no identity. */
export interface UnmeshedWorkload {
  readonly uid: string;
  readonly kind: 'Pod' | 'Workload';
  readonly name: string;
  readonly namespace: string;
  readonly addresses: readonly string[];
}

/** What a query is resolved against. */
export interface ExplainData {
  readonly trustDomain: string;
  /** Meshed workloads. */
  readonly workloads: readonly WorkloadInfo[];
  readonly services: readonly ServiceInfo[];
  readonly authorizationPolicies: readonly AuthorizationPolicyData[];
  /** Workloads outside the mesh, when known (offline); a snapshot has none. */
  readonly unmeshed?: readonly UnmeshedWorkload[];
  /** The DNS domain of Service host names (`<name>.<ns>.svc.<domain>`); default `cluster.local`. */
  readonly clusterDomain?: string;
  /** The node whose agent answers (the admin API): a destination elsewhere is noted. */
  readonly node?: string;
}


/** The source as resolved. */
export interface ExplainSource {
  /** The query's text. */
  readonly query: string;
  /** The workload's uid when the source is one. */
  readonly workload?: string;
  /** The SPIFFE ID; absent: plaintext, no identity. */
  readonly identity?: string;
  readonly address?: string;
  readonly notes: readonly string[];
}


/** Query texts longer than this are not names or addresses (a SPIFFE ID is at most 2048). */
const MAX_REF = 2048;
export { HTTP_PROTOCOLS };

export function bad(message: string): MeshletError {
  return new MeshletError('MESHLET_ERR_CONFIG_INVALID', message);
}

/** A value for a message: quoted, cut to 100 characters. */
export function quote(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}

/** A workload reference: `pod/NS/NAME`, `workload/NS/NAME`, `NS/NAME`; undefined when `text` is not one. */
function workloadRef(text: string): { kind?: 'Pod' | 'Workload'; namespace: string; name: string } | undefined {
  const m = /^(?:(pod|workload)\/)?([^/:]+)\/([^/:]+)$/i.exec(text);
  if (m === null) return undefined;
  const [, kind, namespace = '', name = ''] = m;
  if (!isDnsLabel(namespace) || !isDnsSubdomain(name)) return undefined;
  const k = kind?.toLowerCase();
  return { ...(k === undefined ? {} : { kind: k === 'pod' ? 'Pod' : 'Workload' }), namespace, name };
}

/** The one workload of `list` a reference names; throws when none or several. */
function findByRef<W extends { kind: string; namespace: string; name: string; uid: string }>(
  list: readonly W[],
  ref: { kind?: string; namespace: string; name: string },
): W | undefined {
  const found = list.filter((w) => w.namespace === ref.namespace && w.name === ref.name && (ref.kind === undefined || w.kind === ref.kind));
  if (found.length > 1) throw bad(`${ref.namespace}/${ref.name} is ambiguous: ${found.map((w) => w.uid).join(' and ')} (write pod/${ref.namespace}/${ref.name} or workload/${ref.namespace}/${ref.name})`);
  return found[0];
}

/** Resolves a source (see {@link ExplainQuery.source}). */
export function resolveSource(text: string, data: ExplainData): ExplainSource {
  if (text.length === 0 || text.length > MAX_REF) throw bad(`source ${quote(text)}: want pod/NS/NAME, NS/NAME, a SPIFFE ID or an IP address`);
  if (text.toLowerCase().startsWith('plaintext:')) {
    const inner = resolveSource(text.slice('plaintext:'.length), data);
    if (inner.address === undefined) throw bad(`source ${quote(text)}: plaintext needs an address (an IP or a workload with one), not a bare identity`);
    return { query: text, ...(inner.workload === undefined ? {} : { workload: inner.workload }), address: inner.address, notes: ['plaintext: no identity (as from outside the mesh, or a PERMISSIVE port)'] };
  }
  if (text.startsWith('spiffe://')) return spiffeSource(text, data);
  const ip = canonicalAddress(text);
  if (ip !== undefined) {
    const w = data.workloads.find((x) => x.addresses.some((a) => canonicalAddress(a) === ip));
    if (w !== undefined) return { query: text, workload: w.uid, identity: w.identity, address: ip, notes: [] };
    const outside = (data.unmeshed ?? []).find((x) => x.addresses.some((a) => canonicalAddress(a) === ip));
    const who = outside === undefined ? `${ip} is no meshed workload's address` : `${ip} is ${outside.uid}'s, outside the mesh`;
    return { query: text, ...(outside === undefined ? {} : { workload: outside.uid }), address: ip, notes: [`${who}: a plaintext source with no identity`] };
  }
  const ref = workloadRef(text);
  if (ref === undefined) throw bad(`source ${quote(text)}: want pod/NS/NAME, workload/NS/NAME, NS/NAME, a SPIFFE ID (spiffe://TD/ns/NS/sa/SA), an IP address or plaintext:<one of these>`);
  const meshed = findByRef(data.workloads, ref);
  if (meshed !== undefined) return { query: text, workload: meshed.uid, identity: meshed.identity, ...addressOf(meshed), notes: [] };
  const outside = findByRef(data.unmeshed ?? [], ref);
  if (outside !== undefined) {
    const address = outside.addresses[0];
    if (address === undefined) throw bad(`source ${quote(text)}: ${outside.uid} is outside the mesh and has no address yet`);
    return { query: text, workload: outside.uid, address, notes: [`${outside.uid} is outside the mesh: a plaintext source with no identity`] };
  }
  throw bad(`source ${quote(text)}: no meshed workload ${ref.namespace}/${ref.name}${data.unmeshed === undefined ? ' (a node\'s snapshot lists meshed workloads only: for one outside the mesh, pass its IP address)' : ''}`);
}

function addressOf(w: WorkloadInfo): { address?: string } {
  const a = w.addresses[0];
  return a === undefined ? {} : { address: a };
}

function spiffeSource(text: string, data: ExplainData): ExplainSource {
  let id;
  try {
    id = parseSpiffeId(text);
  } catch (err) {
    throw bad(`source: ${(err as Error).message}`);
  }
  const notes = ['an identity with no address: ipBlocks and source.ip cannot match'];
  if (id.trustDomain !== data.trustDomain) notes.push(`trust domain ${id.trustDomain} is not the mesh's (${data.trustDomain}): the mesh would not accept this peer's certificate`);
  return { query: text, identity: text, notes };
}

/** One destination workload before evaluation. */
export interface Destination {
  readonly workload: WorkloadInfo;
  readonly address: string;
  readonly port: number;
  readonly service?: ServiceInfo;
  readonly servicePort?: ServicePort;
}

/** Resolves a destination to its workloads and ports (see {@link ExplainQuery.destination}). */
export function resolveDestination(text: string, port: number | undefined, data: ExplainData): Destination[] {
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) throw bad(`port ${String(port)}: must be 1-65535`);
  if (text.length === 0 || text.length > MAX_REF) throw bad(`destination ${quote(text)}: want svc/NS/NAME[:PORT], pod/NS/NAME, NS/NAME or IP:PORT`);
  const svc = /^(?:svc|service)\/([^/:]+)\/([^/:]+)(?::([^/:]+))?$/i.exec(text);
  if (svc !== null) {
    const key = `${svc[1] ?? ''}/${svc[2] ?? ''}`;
    const service = data.services.find((s) => s.key === key);
    if (service === undefined) throw bad(`destination ${quote(text)}: no Service ${key}`);
    return serviceDestinations(text, service, pickServicePort(text, service, svc[3], port), data);
  }
  const authority = parseAuthority(text) ?? (canonicalAddress(text) === undefined ? undefined : { address: text, port });
  if (authority !== undefined) return addressDestinations(text, canonicalAddress(authority.address) ?? authority.address, authority.port, port, data);
  const ref = workloadRef(text);
  if (ref === undefined) throw bad(`destination ${quote(text)}: want svc/NS/NAME[:PORT], pod/NS/NAME, workload/NS/NAME, NS/NAME, IP:PORT or [IPv6]:PORT`);
  const workload = findByRef(data.workloads, ref);
  if (workload === undefined) {
    const outside = findByRef(data.unmeshed ?? [], ref);
    if (outside !== undefined) throw bad(`destination ${quote(text)}: ${outside.uid} is outside the mesh: no authorization policy is enforced there`);
    throw bad(`destination ${quote(text)}: no meshed workload ${ref.namespace}/${ref.name}`);
  }
  if (port === undefined) throw bad(`destination ${quote(text)}: a workload needs a port (--port, or port=)`);
  const address = workload.addresses[0];
  if (address === undefined) throw bad(`destination ${quote(text)}: ${workload.uid} has no address`);
  return [{ workload, address, port }];
}

/** The Service port named by `:PORT` (a number or a port name), `port`, or the only one. */
function pickServicePort(text: string, service: ServiceInfo, written: string | undefined, port: number | undefined): ServicePort {
  if (written !== undefined && port !== undefined && String(port) !== written) throw bad(`destination ${quote(text)}: port ${port} given as well; give one`);
  const want = written ?? (port === undefined ? undefined : String(port));
  const list = service.ports.map((p) => (p.name === undefined ? String(p.port) : `${p.port} (${p.name})`)).join(', ');
  if (want === undefined) {
    const only = service.ports.length === 1 ? service.ports[0] : undefined;
    if (only === undefined) throw bad(`destination ${quote(text)}: Service ${service.key} has ${service.ports.length === 0 ? 'no ports' : `ports ${list}`}: name one (svc/NS/NAME:PORT or --port)`);
    return only;
  }
  const found = service.ports.find((p) => String(p.port) === want || p.name === want);
  if (found === undefined) throw bad(`destination ${quote(text)}: Service ${service.key} has no port ${want} (its ports: ${list || 'none'})`);
  return found;
}

/** A Service port's meshed endpoints, each at its target port. */
function serviceDestinations(text: string, service: ServiceInfo, servicePort: ServicePort, data: ExplainData): Destination[] {
  const out: Destination[] = [];
  for (const e of service.endpoints) {
    const target = e.targetPorts[servicePort.port];
    const workload = e.meshed ? data.workloads.find((w) => w.uid === e.workload) : undefined;
    if (workload === undefined || target === undefined) continue;
    out.push({ workload, address: e.address, port: target, service, servicePort });
  }
  if (out.length === 0) {
    const why = service.endpoints.length === 0 ? 'has no endpoints' : 'has no meshed endpoint (policies are enforced by the destination\'s agent: an endpoint outside the mesh has none)';
    throw bad(`destination ${quote(text)}: Service ${service.key} port ${servicePort.port} ${why}`);
  }
  return out;
}

/** `IP:PORT` or `IP`: a Service VIP (then a Service port) or a meshed workload's address. */
function addressDestinations(text: string, address: string, written: number | undefined, port: number | undefined, data: ExplainData): Destination[] {
  if (written !== undefined && port !== undefined && written !== port) throw bad(`destination ${quote(text)}: port ${port} given as well; give one`);
  const want = written ?? port;
  const service = data.services.find((s) => s.vips.some((v) => canonicalAddress(v) === address));
  if (service !== undefined) return serviceDestinations(text, service, pickServicePort(text, service, want === undefined ? undefined : String(want), undefined), data);
  const workload = data.workloads.find((w) => w.addresses.some((a) => canonicalAddress(a) === address));
  if (workload === undefined) {
    const outside = (data.unmeshed ?? []).find((w) => w.addresses.some((a) => canonicalAddress(a) === address));
    const why = outside === undefined ? 'no Service VIP and no meshed workload has this address' : `${outside.uid} is outside the mesh: no authorization policy is enforced there`;
    throw bad(`destination ${quote(text)}: ${why}`);
  }
  if (want === undefined) throw bad(`destination ${quote(text)}: a workload address needs a port (IP:PORT, or --port)`);
  return [{ workload, address, port: want }];
}

/** The declared protocol of a destination: its Service port's, else its workload port's. */
export function workloadPortProtocol(d: Destination, data: Pick<ExplainData, 'services'>): PortProtocol {
  if (d.service !== undefined && d.servicePort !== undefined) return portProtocol(d.servicePort, opaqueOf(d.service));
  return declaredPortProtocol(d.workload.uid, d.port, data.services);
}

/**
 * What the Service ports targeting a workload port declare: HTTP when any declares HTTP (the
 * proxy parses it), else `tcp` when any declares it opaque, else `detect` (sniffed, or no
 * Service at all).
 */
export function declaredPortProtocol(workload: string, port: number, services: readonly ServiceInfo[]): PortProtocol {
  const declared: PortProtocol[] = [];
  for (const s of services) {
    for (const e of s.endpoints) {
      if (e.workload !== workload) continue;
      for (const p of s.ports) if (e.targetPorts[p.port] === port) declared.push(portProtocol(p, opaqueOf(s)));
    }
  }
  return declared.find((p) => HTTP_PROTOCOLS.has(p)) ?? declared.find((p) => p === 'tcp') ?? 'detect';
}

function opaqueOf(s: ServiceInfo): { opaquePorts?: ReadonlySet<number> } {
  return s.opaquePorts === undefined ? {} : { opaquePorts: new Set(s.opaquePorts) };
}
