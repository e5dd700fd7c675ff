/**
 * The capture rule set and its rendering as `iptables-restore --noflush` input. Pure: no I/O.
 *
 * Every rule is written exactly as `iptables-save` prints it back (e.g. `-m tcp` after
 * `-p tcp --dport`, `/32` after an address), so verify can compare kernel and wanted rules as
 * plain strings on both the legacy and the nft backend.
 */
import { resolveCaptureSpec, type CaptureSpec, type ResolvedCaptureSpec } from './capture-spec.js';
import type { IpFamily } from '../mesh/workload-address.js';

/** The built-in nat chain meshlet hooks into. */
export const HOOK_CHAIN = 'PREROUTING';
/** meshlet's entry chain: the one PREROUTING jumps to. */
export const ENTRY_CHAIN = 'MESHLET_PREROUTING';
/** TCP from a meshed local workload: redirected to the outbound listener. */
export const OUTBOUND_CHAIN = 'MESHLET_OUTBOUND';
/** Plaintext TCP to a meshed local workload: redirected to the inbound listener. */
export const INBOUND_CHAIN = 'MESHLET_INBOUND';
/** Every chain meshlet owns in the nat table, entry chain first. */
export const MESHLET_CHAINS: readonly string[] = [ENTRY_CHAIN, OUTBOUND_CHAIN, INBOUND_CHAIN];
/**
 * The match and target of the one jump from PREROUTING. Only TCP enters: meshlet captures
 * nothing else, and UDP/ICMP then never walk meshlet's chains.
 */
export const JUMP_SPEC = `-p tcp -j ${ENTRY_CHAIN}`;
/** The jump as `iptables-save` prints it. */
export const JUMP_RULE = `-A ${HOOK_CHAIN} ${JUMP_SPEC}`;
/**
 * The jump as a restore line: inserted first, so meshlet sees a connection before kube-proxy's
 * `KUBE-SERVICES` DNAT (the first nat rule that rewrites a packet ends the nat traversal).
 */
export const JUMP_INSERT = `-I ${HOOK_CHAIN} 1 ${JUMP_SPEC}`;

/** One meshlet chain and its rules, each a full `-A CHAIN ...` line. */
export interface ChainRules {
  readonly name: string;
  readonly rules: readonly string[];
}

/** The wanted content of meshlet's chains for one family. */
export interface FamilyRuleSet {
  readonly family: IpFamily;
  /** The family's workload addresses, canonical and sorted, without prefix length. */
  readonly addresses: readonly string[];
  /** In {@link MESHLET_CHAINS} order. */
  readonly chains: readonly ChainRules[];
}

/** Both families' wanted rules. */
export interface RuleSet {
  readonly ipv4: FamilyRuleSet;
  readonly ipv6: FamilyRuleSet;
}

/** Lines a restore adds around the chain refill to repair or create the PREROUTING jump. */
export interface JumpEdits {
  /** `-D CHAIN spec` lines removing stray or misplaced references to meshlet's chains. */
  readonly deletes: readonly string[];
  /** Whether to insert {@link JUMP_INSERT} (there is no correct jump yet). */
  readonly insertJump: boolean;
}

/** Jump edits for a netns that holds no meshlet jump yet (what `buildRules` renders). */
export const FRESH_JUMP_EDITS: JumpEdits = Object.freeze({ deletes: Object.freeze([]), insertJump: true });

/** Builds both families' wanted rules from a spec (validated here; throws MESHLET_ERR_CONFIG_INVALID). */
export function buildRuleSet(spec: CaptureSpec): RuleSet {
  const resolved = resolveCaptureSpec(spec);
  return { ipv4: buildFamily(resolved, 'ipv4'), ipv6: buildFamily(resolved, 'ipv6') };
}

function buildFamily(spec: ResolvedCaptureSpec, family: IpFamily): FamilyRuleSet {
  const prefix = family === 'ipv4' ? 32 : 128;
  const plain = spec.addresses[family].map((a) => a.text);
  const addresses = plain.map((a) => `${a}/${prefix}`);
  const entry = [
    // Traffic to the node's own addresses is not workload-to-workload traffic: a pod dialling
    // the node, its kubelet, a NodePort, the agent's own ports, and the tunnel (another agent
    // dials this node's address on the tunnel port with traffic it already captured and
    // encrypted; capturing it again would wrap a tunnel in a tunnel). The tunnel port is left
    // alone only here, on the node's addresses: a `--dport <tunnel>` RETURN for every
    // destination would let plaintext to a workload's own port 15008 bypass capture, and with
    // it MeshTLS STRICT (issue 9, finding 12). istio can exclude 15008 outright because its
    // rules live in the pod's namespace, where every local address is the proxy's; ours live in
    // the node's, where only the LOCAL addresses are.
    `-A ${ENTRY_CHAIN} -m addrtype --dst-type LOCAL -j RETURN`,
    // Sources first: workload-to-workload traffic on one node is captured once, outbound, and
    // the agent hands it to its inbound side in-process.
    ...addresses.map((a) => `-A ${ENTRY_CHAIN} -s ${a} -j ${OUTBOUND_CHAIN}`),
    ...addresses.map((a) => `-A ${ENTRY_CHAIN} -d ${a} -j ${INBOUND_CHAIN}`),
  ];
  // The agent's own connections (tunnel to a pod, dial-out for a captured connection) start in
  // the node netns and traverse OUTPUT, never PREROUTING, so no owner match is needed here, and
  // meshlet deliberately adds no OUTPUT capture.
  return {
    family,
    addresses: plain,
    chains: [
      { name: ENTRY_CHAIN, rules: entry },
      { name: OUTBOUND_CHAIN, rules: captureChain(OUTBOUND_CHAIN, spec.excludeOutboundPorts, spec.outboundPort) },
      { name: INBOUND_CHAIN, rules: captureChain(INBOUND_CHAIN, spec.excludeInboundPorts, spec.inboundPort) },
    ],
  };
}

function captureChain(chain: string, excluded: readonly number[], toPort: number): string[] {
  return [
    ...excluded.map((port) => `-A ${chain} -p tcp -m tcp --dport ${port} -j RETURN`),
    `-A ${chain} -p tcp -j REDIRECT --to-ports ${toPort}`,
  ];
}

/**
 * Renders one family's rules as input for `iptables-restore --noflush` (or `ip6tables-...`).
 * Declaring a chain with `:NAME - [0:0]` under `--noflush` creates it or flushes it, and the
 * whole table commits at `COMMIT` or not at all: a reconcile swaps meshlet's rules in one step.
 */
export function renderRestore(rules: FamilyRuleSet, edits: JumpEdits): string {
  const tool = rules.family === 'ipv4' ? 'iptables-restore' : 'ip6tables-restore';
  const lines = [
    `# meshlet capture rules (${rules.family}, nat table): load with ${tool} --noflush`,
    '*nat',
    ...rules.chains.map((c) => `:${c.name} - [0:0]`),
    ...edits.deletes,
    ...rules.chains.flatMap((c) => c.rules),
    ...(edits.insertJump ? [JUMP_INSERT] : []),
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Renders `spec` as `iptables-restore --noflush` input for each family, as for a netns that
 * holds no meshlet jump yet (so it includes {@link JUMP_INSERT}). Deterministic: addresses and
 * ports are sorted. `IptablesManager.apply` renders the same chains but adjusts the jump lines to
 * what the kernel holds, so re-applying never duplicates the jump.
 */
export function buildRules(spec: CaptureSpec): { ipv4: string; ipv6: string } {
  const set = buildRuleSet(spec);
  return { ipv4: renderRestore(set.ipv4, FRESH_JUMP_EDITS), ipv6: renderRestore(set.ipv6, FRESH_JUMP_EDITS) };
}
