/**
 * What a node agent wants captured: the input of the rule builder, its validation and its
 * defaults. Validation lists every bad field at once, so one run shows every mistake.
 */
import { MeshletError } from '../mesh/errors.js';
import { parseWorkloadAddress, type IpFamily, type WorkloadAddress } from '../mesh/workload-address.js';

/** Default port of the agent's outbound capture listener. */
export const DEFAULT_OUTBOUND_PORT = 15001;
/** Default port of the agent's inbound plaintext capture listener. */
export const DEFAULT_INBOUND_PORT = 15006;
/** Default port of the agent's mTLS HTTP/2 CONNECT tunnel. */
export const DEFAULT_TUNNEL_PORT = 15008;

/**
 * The traffic one node agent captures in its node's network namespace.
 *
 * Only `workloadIps` is required; the ports default to meshlet's well-known ports.
 */
export interface CaptureSpec {
  /**
   * Addresses of the meshed workloads on this node, IPv4 and IPv6 mixed, in any order.
   * Duplicates are merged. Each must pass the mesh's one address policy
   * (`src/mesh/workload-address.ts`), the same the workload index applies.
   */
  readonly workloadIps: readonly string[];
  /** Where outbound TCP from a workload is redirected. Default {@link DEFAULT_OUTBOUND_PORT}. */
  readonly outboundPort?: number;
  /** Where inbound plaintext TCP to a workload is redirected. Default {@link DEFAULT_INBOUND_PORT}. */
  readonly inboundPort?: number;
  /**
   * The agents' tunnel port. Default {@link DEFAULT_TUNNEL_PORT}. It must differ from the other
   * agent ports; the rules need no rule of their own for it, since tunnel traffic targets the
   * node's addresses, which are never captured (see `rule-builder.ts`).
   */
  readonly tunnelPort?: number;
  /** Destination ports of inbound TCP to workloads that are left alone (e.g. a health probe port). */
  readonly excludeInboundPorts?: readonly number[];
  /** Destination ports of outbound TCP from workloads that are left alone (e.g. an external DB). */
  readonly excludeOutboundPorts?: readonly number[];
}

/** A validated {@link CaptureSpec}: defaults filled in, addresses split by family and sorted. */
export interface ResolvedCaptureSpec {
  readonly addresses: Readonly<Record<IpFamily, readonly WorkloadAddress[]>>;
  readonly outboundPort: number;
  readonly inboundPort: number;
  readonly tunnelPort: number;
  /** Sorted ascending, without duplicates. */
  readonly excludeInboundPorts: readonly number[];
  /** Sorted ascending, without duplicates. */
  readonly excludeOutboundPorts: readonly number[];
}

/** The spec fields a problem can be about (the CLI maps them to its flags). */
export type CaptureSpecField = keyof CaptureSpec;

/** One thing wrong with a {@link CaptureSpec}. */
export interface CaptureSpecProblem {
  readonly field: CaptureSpecField;
  /** The offending value as given, rendered for a message. */
  readonly value: string;
  readonly reason: string;
  /** For a clash between two fields: the other one. */
  readonly related?: CaptureSpecField;
}

/** True for an integer TCP port 1..65535. */
export function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** Every problem in `spec`, in field order; empty when the spec is valid. Never throws. */
export function checkCaptureSpec(spec: CaptureSpec): CaptureSpecProblem[] {
  const problems: CaptureSpecProblem[] = [];
  if (!Array.isArray(spec.workloadIps)) {
    problems.push({ field: 'workloadIps', value: String(spec.workloadIps), reason: 'must be a list of addresses' });
  } else {
    for (const ip of spec.workloadIps) {
      const parsed = typeof ip === 'string' ? parseWorkloadAddress(ip) : { ok: false as const, reason: 'not a string' };
      if (!parsed.ok) problems.push({ field: 'workloadIps', value: String(ip), reason: parsed.reason });
    }
  }
  const ports = { outboundPort: spec.outboundPort, inboundPort: spec.inboundPort, tunnelPort: spec.tunnelPort } as const;
  for (const [field, value] of Object.entries(ports) as [CaptureSpecField, number | undefined][]) {
    if (value !== undefined && !isPort(value)) problems.push({ field, value: String(value), reason: 'not a TCP port (1-65535)' });
  }
  for (const field of ['excludeInboundPorts', 'excludeOutboundPorts'] as const) {
    const list: unknown = spec[field] ?? [];
    if (!Array.isArray(list)) {
      problems.push({ field, value: String(list), reason: 'must be a list of ports' });
      continue;
    }
    for (const value of list) {
      if (!isPort(value)) problems.push({ field, value: String(value), reason: 'not a TCP port (1-65535)' });
    }
  }
  problems.push(...checkDistinctPorts(spec));
  return problems;
}

/** The three agent ports must differ: one listener cannot be both the outbound and inbound side. */
function checkDistinctPorts(spec: CaptureSpec): CaptureSpecProblem[] {
  const named: [CaptureSpecField, number][] = [
    ['outboundPort', spec.outboundPort ?? DEFAULT_OUTBOUND_PORT],
    ['inboundPort', spec.inboundPort ?? DEFAULT_INBOUND_PORT],
    ['tunnelPort', spec.tunnelPort ?? DEFAULT_TUNNEL_PORT],
  ];
  const problems: CaptureSpecProblem[] = [];
  for (let i = 1; i < named.length; i += 1) {
    const [field, port] = named[i] ?? ['tunnelPort', 0];
    const clash = named.slice(0, i).find(([, other]) => other === port);
    if (clash !== undefined && isPort(port)) {
      problems.push({ field, value: String(port), reason: `same port as ${clash[0]}; the agent ports must differ`, related: clash[0] });
    }
  }
  return problems;
}

/**
 * Validates `spec` and fills in defaults. Throws `MESHLET_ERR_CONFIG_INVALID` naming every bad
 * field and value (in `message` and one line each in `details`); the input is not modified.
 */
export function resolveCaptureSpec(spec: CaptureSpec): ResolvedCaptureSpec {
  const problems = checkCaptureSpec(spec);
  if (problems.length > 0) {
    const details = problems.map((p) => `${p.field}: ${JSON.stringify(p.value)}: ${p.reason}`);
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `invalid capture spec: ${details.join('; ')}`, { details });
  }
  const byFamily: Record<IpFamily, Map<string, WorkloadAddress>> = { ipv4: new Map(), ipv6: new Map() };
  for (const ip of spec.workloadIps) {
    const parsed = parseWorkloadAddress(ip);
    if (parsed.ok) byFamily[parsed.address.family].set(parsed.address.sortKey, parsed.address);
  }
  const sorted = (m: Map<string, WorkloadAddress>): WorkloadAddress[] =>
    [...m.values()].sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
  const uniquePorts = (ports: readonly number[] | undefined): number[] => [...new Set(ports ?? [])].sort((a, b) => a - b);
  return {
    addresses: { ipv4: sorted(byFamily.ipv4), ipv6: sorted(byFamily.ipv6) },
    outboundPort: spec.outboundPort ?? DEFAULT_OUTBOUND_PORT,
    inboundPort: spec.inboundPort ?? DEFAULT_INBOUND_PORT,
    tunnelPort: spec.tunnelPort ?? DEFAULT_TUNNEL_PORT,
    excludeInboundPorts: uniquePorts(spec.excludeInboundPorts),
    excludeOutboundPorts: uniquePorts(spec.excludeOutboundPorts),
  };
}
