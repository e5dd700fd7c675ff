import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { diffFamily, diffSequence } from '../../../src/iptables/drift.js';
import { buildRuleSet } from '../../../src/iptables/rule-builder.js';
import { parseSave } from '../../../src/iptables/save-parser.js';

const testdata = fileURLToPath(new URL('../../../../test/unit/iptables/testdata/', import.meta.url));
const inSync = readFileSync(`${testdata}in-sync.nat.save`, 'utf8');
// The spec the canned save is in sync with.
const wanted = buildRuleSet({ workloadIps: ['198.18.1.3', '198.18.1.2'], excludeInboundPorts: [9090] }).ipv4;

function drift(save: string): { inSync: boolean; missing: readonly string[]; unexpected: readonly string[] } {
  return diffFamily(wanted, parseSave(save));
}

function edit(from: string, to: string): string {
  if (!inSync.includes(from)) throw new Error(`canned save has no ${from}`);
  return inSync.replace(from, to);
}

t.test('in sync: counters, comments and other chains do not matter', async (t) => {
  t.same(drift(inSync), { inSync: true, missing: [], unexpected: [] });
});

t.test('a rule deleted by hand is missing', async (t) => {
  const report = drift(edit('-A MESHLET_PREROUTING -d 198.18.1.3/32 -j MESHLET_INBOUND\n', ''));
  t.same(report, { inSync: false, missing: ['-A MESHLET_PREROUTING -d 198.18.1.3/32 -j MESHLET_INBOUND'], unexpected: [] });
});

t.test('a rule added to a meshlet chain by hand is unexpected', async (t) => {
  const added = '-A MESHLET_OUTBOUND -p tcp -m tcp --dport 22 -j RETURN\n';
  const report = drift(edit('-A MESHLET_OUTBOUND -p tcp -j REDIRECT', `${added}-A MESHLET_OUTBOUND -p tcp -j REDIRECT`));
  t.same(report, { inSync: false, missing: [], unexpected: ['-A MESHLET_OUTBOUND -p tcp -m tcp --dport 22 -j RETURN'] });
});

t.test('rules out of order are both missing and unexpected', async (t) => {
  const swapped = edit(
    '-A MESHLET_INBOUND -p tcp -m tcp --dport 9090 -j RETURN\n-A MESHLET_INBOUND -p tcp -j REDIRECT --to-ports 15006\n',
    '-A MESHLET_INBOUND -p tcp -j REDIRECT --to-ports 15006\n-A MESHLET_INBOUND -p tcp -m tcp --dport 9090 -j RETURN\n',
  );
  const report = drift(swapped);
  t.notOk(report.inSync);
  t.equal(report.missing.length, 1);
  t.same(report.missing, report.unexpected, 'the moved rule is reported on both sides');
});

t.test('a missing jump is missing', async (t) => {
  const report = drift(edit('[3:180] -A PREROUTING -p tcp -j MESHLET_PREROUTING\n', ''));
  t.same(report, { inSync: false, missing: ['-A PREROUTING -p tcp -j MESHLET_PREROUTING'], unexpected: [] });
});

t.test('a duplicate jump is unexpected, with its place', async (t) => {
  const dup = edit('-A OUTPUT -m comment', '-A PREROUTING -p tcp -j MESHLET_PREROUTING\n-A OUTPUT -m comment');
  t.same(drift(dup), {
    inSync: false,
    missing: [],
    unexpected: ['-A PREROUTING -p tcp -j MESHLET_PREROUTING (PREROUTING rule 3, duplicate jump)'],
  });
});

t.test('a jump that is not first (kube-proxy inserted before it) is drift', async (t) => {
  const late = edit(
    '[3:180] -A PREROUTING -p tcp -j MESHLET_PREROUTING\n[10:600] -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n',
    '-A PREROUTING -j KUBE-SERVICES\n-A PREROUTING -p tcp -j MESHLET_PREROUTING\n',
  );
  t.same(drift(late), {
    inSync: false,
    missing: ['-A PREROUTING -p tcp -j MESHLET_PREROUTING'],
    unexpected: ['-A PREROUTING -p tcp -j MESHLET_PREROUTING (PREROUTING rule 2, must be rule 1)'],
  });
});

t.test('a jump with another match, or from another chain, is unexpected', async (t) => {
  const other = edit('-A OUTPUT -m comment', '-A OUTPUT -j MESHLET_OUTBOUND\n-A OUTPUT -m comment');
  t.same(drift(other).unexpected, ['-A OUTPUT -j MESHLET_OUTBOUND (OUTPUT rule 1)']);
  const wrongMatch = edit('[3:180] -A PREROUTING -p tcp -j MESHLET_PREROUTING', '-A PREROUTING -j MESHLET_PREROUTING');
  t.same(drift(wrongMatch), {
    inSync: false,
    missing: ['-A PREROUTING -p tcp -j MESHLET_PREROUTING'],
    unexpected: ['-A PREROUTING -j MESHLET_PREROUTING (PREROUTING rule 1)'],
  });
  t.ok(drift(edit('-A INPUT -j MESHLET_PREROUTING', '')).inSync, 'the filter table is not meshlet business');
});

t.test('a missing chain is reported whole', async (t) => {
  const noInbound = inSync
    .split('\n')
    .filter((l) => !l.includes('MESHLET_INBOUND') || l.startsWith('-A MESHLET_PREROUTING'))
    .join('\n');
  const report = drift(noInbound);
  t.same(report.missing, [':MESHLET_INBOUND', '-A MESHLET_INBOUND -p tcp -m tcp --dport 9090 -j RETURN', '-A MESHLET_INBOUND -p tcp -j REDIRECT --to-ports 15006']);
  t.same(report.unexpected, []);
});

t.test('a clean table misses everything', async (t) => {
  const report = diffFamily(wanted, parseSave('*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n'));
  t.equal(report.missing.length, 3 + 5 + 1 + 2 + 1, 'three chains, their rules and the jump');
  t.notOk(report.inSync);
});

t.test('a workload that left is unexpected; one that came is missing', async (t) => {
  const next = buildRuleSet({ workloadIps: ['198.18.1.2', '198.18.1.4'], excludeInboundPorts: [9090] }).ipv4;
  const report = diffFamily(next, parseSave(inSync));
  t.same(report.missing, ['-A MESHLET_PREROUTING -s 198.18.1.4/32 -j MESHLET_OUTBOUND', '-A MESHLET_PREROUTING -d 198.18.1.4/32 -j MESHLET_INBOUND']);
  t.same(report.unexpected, ['-A MESHLET_PREROUTING -s 198.18.1.3/32 -j MESHLET_OUTBOUND', '-A MESHLET_PREROUTING -d 198.18.1.3/32 -j MESHLET_INBOUND']);
});

t.test('diffSequence is a minimal, ordered diff', async (t) => {
  t.same(diffSequence(['a', 'b', 'c'], ['a', 'b', 'c']), { missing: [], unexpected: [] });
  t.same(diffSequence(['a', 'b', 'c'], ['a', 'c']), { missing: ['b'], unexpected: [] });
  t.same(diffSequence(['a', 'c'], ['a', 'x', 'c', 'y']), { missing: [], unexpected: ['x', 'y'] });
  t.same(diffSequence([], ['x']), { missing: [], unexpected: ['x'] });
  t.same(diffSequence(['a', 'a'], ['a']), { missing: ['a'], unexpected: [] }, 'duplicates count');
  const big = Array.from({ length: 3000 }, (_, i) => `r${i}`);
  const shuffled = [...big].reverse();
  const report = diffSequence(big, shuffled);
  t.ok(report.missing.length > 0, `huge reorders fall back to a whole-range report: missing lines (${report.missing.length})`);
  t.ok(report.unexpected.length > 0, `huge reorders fall back to a whole-range report: unexpected lines (${report.unexpected.length})`);
});
