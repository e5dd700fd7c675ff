/**
 * Issue 9, finding 12: the tunnel port is exempt from capture only on the node's own addresses.
 * A small walker runs a packet through the rendered entry chain the way netfilter would (first
 * matching rule wins), for the few matches meshlet's entry chain uses.
 */
import t from 'tap';
import { buildRuleSet, ENTRY_CHAIN, INBOUND_CHAIN, OUTBOUND_CHAIN } from '../../../src/iptables/rule-builder.js';

interface Packet {
  readonly src: string;
  readonly dst: string;
  readonly dport: number;
  /** Whether `dst` is one of the node's own addresses (what `-m addrtype --dst-type LOCAL` asks). */
  readonly dstLocal: boolean;
}

/** The target of the first entry-chain rule `packet` matches; 'fall-through' when none does. */
function walk(rules: readonly string[], packet: Packet): string {
  for (const rule of rules) {
    const words = rule.split(' ');
    const arg = (flag: string): string | undefined => {
      const i = words.indexOf(flag);
      return i < 0 ? undefined : words[i + 1];
    };
    const known = new Set(['-A', ENTRY_CHAIN, '-p', 'tcp', '-m', 'addrtype', '--dst-type', 'LOCAL', '--dport', '-s', '-d', '-j']);
    for (let i = 0; i < words.length; i++) {
      const w = words[i] ?? '';
      const value = i > 0 && ['--dport', '-s', '-d', '-j'].includes(words[i - 1] ?? '');
      if (!known.has(w) && !value) throw new Error(`walker does not know ${w} in ${rule}`);
    }
    const dport = arg('--dport');
    if (dport !== undefined && Number(dport) !== packet.dport) continue;
    if (arg('--dst-type') === 'LOCAL' && !packet.dstLocal) continue;
    const s = arg('-s');
    if (s !== undefined && s.replace(/\/(32|128)$/, '') !== packet.src) continue;
    const d = arg('-d');
    if (d !== undefined && d.replace(/\/(32|128)$/, '') !== packet.dst) continue;
    return arg('-j') ?? 'none';
  }
  return 'fall-through';
}

const WORKLOAD = '198.18.1.2';
const NODE = '198.18.0.1';
const entry = buildRuleSet({ workloadIps: [WORKLOAD, '2001:db8:1::2'] }).ipv4.chains[0]?.rules ?? [];

t.test('the entry chain is not empty', async (t) => {
  t.ok(entry.length >= 3, `${entry.length} rules`);
});

t.test('plaintext to a workload on the tunnel port is captured (inbound)', async (t) => {
  // A pod on another node (or an unmeshed client) dials the STRICT workload's own :15008.
  t.equal(walk(entry, { src: '198.18.9.9', dst: WORKLOAD, dport: 15008, dstLocal: false }), INBOUND_CHAIN);
});

t.test('a workload dialling anything on the tunnel port is captured (outbound)', async (t) => {
  t.equal(walk(entry, { src: WORKLOAD, dst: '198.18.7.7', dport: 15008, dstLocal: false }), OUTBOUND_CHAIN);
});

t.test("tunnel traffic to the node's own address is left alone", async (t) => {
  t.equal(walk(entry, { src: '198.18.0.2', dst: NODE, dport: 15008, dstLocal: true }), 'RETURN', 'another agent dialling this agent');
  t.equal(walk(entry, { src: WORKLOAD, dst: NODE, dport: 15008, dstLocal: true }), 'RETURN', 'a local workload dialling the node');
});

t.test('custom tunnel ports follow the same rule', async (t) => {
  const custom = buildRuleSet({ workloadIps: [WORKLOAD], tunnelPort: 25008 }).ipv4.chains[0]?.rules ?? [];
  t.equal(walk(custom, { src: '198.18.9.9', dst: WORKLOAD, dport: 25008, dstLocal: false }), INBOUND_CHAIN);
  t.equal(walk(custom, { src: '198.18.0.2', dst: NODE, dport: 25008, dstLocal: true }), 'RETURN');
});
