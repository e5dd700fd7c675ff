/**
 * The return path of source address preservation, as rules. Pure: no I/O.
 *
 * When the agent connects to a workload from its client's address (an IP_TRANSPARENT socket,
 * `src/agent/proxy/transparent-connect.ts`), the workload answers that address, which the node
 * would route away: to the client's node, or to the client pod's own veth on this node. Three
 * pieces make the node deliver those answers to the agent's socket instead (ztunnel and Istio's
 * TPROXY mode do the same):
 * - mangle `PREROUTING`: a TCP packet that belongs to a local transparent socket
 *   (`-m socket --transparent`) gets meshlet's mark bit;
 * - `ip rule`: a packet with the mark bit is routed by meshlet's table;
 * - that table's one route, `local default dev lo`: every address is local, so the packet goes
 *   up the stack to the socket.
 * Only transparent sockets match, so nothing else on the node changes route: the agent's own
 * listeners and every other program's sockets are not transparent.
 */
import type { IpFamily } from '../mesh/workload-address.js';
import { diffSequence, type FamilyDrift } from './drift.js';
import type { SavedTable } from './save-parser.js';

/** The mark bit and routing table of the return path. */
export interface ReturnPathSpec {
  /** The mark value set on returning packets (within `mask`). */
  readonly mark: number;
  /** The bits of the packet mark meshlet owns. */
  readonly mask: number;
  /** The routing table holding the `local` route. */
  readonly table: number;
  /** The `ip rule` priority (before `main` at 32766). */
  readonly priority: number;
}

/**
 * Bit 12: clear of kube-proxy (0x4000 masquerade, 0x8000 drop), Cilium (0x0f00), Calico (the
 * upper 16 bits by default), Weave (0x20000) and Istio's in-pod marks (0xfff, in pods' own
 * namespaces). Table 1533 and priority 32000 (after `local` at 0, before `main` at 32766) are
 * otherwise unused by those.
 */
export const DEFAULT_RETURN_PATH: ReturnPathSpec = Object.freeze({ mark: 0x1000, mask: 0x1000, table: 1533, priority: 32000 });

/** meshlet's chain in the mangle table. */
export const RETURN_CHAIN = 'MESHLET_RETURN';
/** The built-in mangle chain it is hooked into. */
export const RETURN_HOOK = 'PREROUTING';
const JUMP_SPEC = `-p tcp -j ${RETURN_CHAIN}`;
/** The hook's jump as `iptables-save` prints it. */
export const RETURN_JUMP_RULE = `-A ${RETURN_HOOK} ${JUMP_SPEC}`;

/** One family's wanted return path. */
export interface ReturnPathRules {
  readonly family: IpFamily;
  /** The rules of {@link RETURN_CHAIN}, as `iptables-save` prints them. */
  readonly chainRules: readonly string[];
  /** `ip` arguments adding the rule (`-6 ...` for IPv6). */
  readonly ruleAdd: readonly string[];
  /** `ip` arguments deleting one copy of the rule. */
  readonly ruleDelete: readonly string[];
  /** `ip` arguments listing the family's rules. */
  readonly ruleList: readonly string[];
  /** The rule as `ip rule show` prints it, whitespace collapsed. */
  readonly ruleLine: string;
  /** `ip` arguments adding (or replacing) the local route. */
  readonly routeReplace: readonly string[];
  /** `ip` arguments deleting it. */
  readonly routeDelete: readonly string[];
  /** `ip` arguments listing meshlet's table. */
  readonly routeList: readonly string[];
}

/** Every problem of `spec` (empty when valid): a mark within the mask, a usable table and priority. */
export function checkReturnPath(spec: ReturnPathSpec): string[] {
  const problems: string[] = [];
  const u32 = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
  if (!u32(spec.mask) || spec.mask === 0) problems.push(`mask ${spec.mask}: must be a non-zero 32-bit value`);
  else if (!u32(spec.mark) || spec.mark === 0 || (spec.mark & ~spec.mask) !== 0) problems.push(`mark ${spec.mark}: must be non-zero and within the mask 0x${spec.mask.toString(16)}`);
  // 253-255 are the kernel's default, main and local tables; 0 is "unspecified".
  if (!Number.isInteger(spec.table) || spec.table < 1 || spec.table > 0xffffffff || (spec.table >= 253 && spec.table <= 255)) problems.push(`table ${spec.table}: must be 1..2^32-1 and not 253-255 (default, main, local)`);
  if (!Number.isInteger(spec.priority) || spec.priority < 1 || spec.priority >= 32766) problems.push(`priority ${spec.priority}: must be 1..32765 (before the main table's rule)`);
  return problems;
}

/** The wanted return path of `family`. Throws on an invalid spec (a programming error: the agent's config is checked first). */
export function buildReturnPath(spec: ReturnPathSpec, family: IpFamily): ReturnPathRules {
  const problems = checkReturnPath(spec);
  if (problems.length > 0) throw new Error(`invalid return path: ${problems.join('; ')}`);
  const hex = (v: number): string => `0x${v.toString(16)}`;
  const v6 = family === 'ipv6' ? ['-6'] : [];
  const selector = ['fwmark', `${hex(spec.mark)}/${hex(spec.mask)}`, 'lookup', String(spec.table), 'pref', String(spec.priority)];
  const route = ['local', 'default', 'dev', 'lo', 'table', String(spec.table)];
  return {
    family,
    chainRules: [`-A ${RETURN_CHAIN} -p tcp -m socket --transparent -j MARK --set-xmark ${hex(spec.mark)}/${hex(spec.mask)}`],
    ruleAdd: [...v6, 'rule', 'add', ...selector],
    ruleDelete: [...v6, 'rule', 'del', ...selector],
    ruleList: [...v6, 'rule', 'show'],
    ruleLine: `${spec.priority}: from all fwmark ${hex(spec.mark)}/${hex(spec.mask)} lookup ${spec.table}`,
    routeReplace: [...v6, 'route', 'replace', ...route],
    routeDelete: [...v6, 'route', 'del', ...route],
    routeList: [...v6, 'route', 'show', 'table', String(spec.table)],
  };
}

/** Rules outside meshlet's chain that jump to it, in save order (healthy: exactly the hook's jump). */
function references(saved: SavedTable): { chain: string; spec: string; normalized: string; position: number }[] {
  const refs = [];
  for (const [chain, rules] of saved.rules) {
    if (chain === RETURN_CHAIN) continue;
    for (const rule of rules) if (rule.target === RETURN_CHAIN) refs.push(rule);
  }
  return refs;
}

/** Whether the one right jump is in place: first in the hook chain, and the only reference. */
function jumpInPlace(saved: SavedTable): boolean {
  const refs = references(saved);
  const first = saved.rules.get(RETURN_HOOK)?.[0];
  return refs.length === 1 && first !== undefined && refs[0] === first && first.normalized === RETURN_JUMP_RULE;
}

/**
 * `iptables-restore --noflush` input that makes the mangle table hold exactly `rules`: the chain
 * created or refilled and, unless the right jump is already first, every reference removed and
 * the jump inserted first (an earlier mangle ACCEPT would skip the mark). All in one commit.
 */
export function renderReturnRestore(rules: ReturnPathRules, saved: SavedTable): string {
  const fix = !jumpInPlace(saved);
  const lines = [
    `# meshlet return path (${rules.family}, mangle table)`,
    '*mangle',
    `:${RETURN_CHAIN} - [0:0]`,
    ...(fix ? references(saved).map((r) => `-D ${r.chain} ${r.spec}`) : []),
    ...rules.chainRules,
    ...(fix ? [`-I ${RETURN_HOOK} 1 ${JUMP_SPEC}`] : []),
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

/** Restore input removing every trace of the return path from the mangle table; undefined when there is none. */
export function cleanReturnRestore(saved: SavedTable): string | undefined {
  const refs = references(saved);
  const exists = saved.chains.includes(RETURN_CHAIN);
  if (refs.length === 0 && !exists) return undefined;
  const lines = [
    '# meshlet clean: the return path',
    '*mangle',
    ...refs.map((r) => `-D ${r.chain} ${r.spec}`),
    ...(exists ? [`-F ${RETURN_CHAIN}`, `-X ${RETURN_CHAIN}`] : []),
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

/** How many copies of the wanted rule `ip rule show` lists. */
export function countRule(rules: ReturnPathRules, ruleShow: string): number {
  return ruleShow.split('\n').filter((l) => l.trim().replace(/\s+/g, ' ') === rules.ruleLine).length;
}

/** Whether `ip route show table T` output holds the local default route (IPv6 adds metric and pref). */
export function hasLocalRoute(routeShow: string): boolean {
  return routeShow.split('\n').some((l) => /^local default dev lo(\s|$)/.test(l.trim()));
}

/**
 * The return path's drift in one family: the mangle chain and jump, the rule (missing, or
 * present more than once) and the route. Entries read like the commands that would fix them.
 */
export function diffReturnPath(rules: ReturnPathRules, saved: SavedTable, ruleShow: string, routeShow: string): FamilyDrift {
  const missing: string[] = [];
  const unexpected: string[] = [];
  if (!saved.chains.includes(RETURN_CHAIN)) missing.push(`:${RETURN_CHAIN}`, ...rules.chainRules);
  else {
    const diff = diffSequence(rules.chainRules, (saved.rules.get(RETURN_CHAIN) ?? []).map((r) => r.normalized));
    missing.push(...diff.missing);
    unexpected.push(...diff.unexpected);
  }
  if (!jumpInPlace(saved)) {
    const first = saved.rules.get(RETURN_HOOK)?.[0];
    if (first?.normalized !== RETURN_JUMP_RULE) missing.push(`${RETURN_JUMP_RULE} (mangle, must be rule 1)`);
    for (const ref of references(saved)) if (ref !== first || first.normalized !== RETURN_JUMP_RULE) unexpected.push(`${ref.normalized} (mangle ${ref.chain} rule ${ref.position})`);
  }
  const copies = countRule(rules, ruleShow);
  if (copies === 0) missing.push(`ip ${rules.ruleAdd.join(' ')}`);
  for (let i = 1; i < copies; i++) unexpected.push(`ip rule ${rules.ruleLine} (duplicate)`);
  if (!hasLocalRoute(routeShow)) missing.push(`ip ${rules.routeReplace.join(' ')}`);
  return { inSync: missing.length === 0 && unexpected.length === 0, missing, unexpected };
}
