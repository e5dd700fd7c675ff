/**
 * The return path's rules: what is rendered, how a saved mangle table is repaired and cleaned,
 * and drift in each piece (chain, jump, ip rule, route). Pure: parsed `iptables-save` text in.
 */
import t from 'tap';
import {
  buildReturnPath, checkReturnPath, cleanReturnRestore, countRule, DEFAULT_RETURN_PATH, diffReturnPath, hasLocalRoute, renderReturnRestore,
} from '../../../src/iptables/return-path.js';
import { parseSave } from '../../../src/iptables/save-parser.js';

const v4 = buildReturnPath(DEFAULT_RETURN_PATH, 'ipv4');
const v6 = buildReturnPath(DEFAULT_RETURN_PATH, 'ipv6');
const mangle = (...rules: string[]): string => ['*mangle', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ...(rules.some((r) => r.includes('MESHLET_RETURN ')) ? [':MESHLET_RETURN - [0:0]'] : []), ...rules, 'COMMIT', ''].join('\n');
const MARK = '-A MESHLET_RETURN -p tcp -m socket --transparent -j MARK --set-xmark 0x1000/0x1000';
const JUMP = '-A PREROUTING -p tcp -j MESHLET_RETURN';
const RULES = '0:\tfrom all lookup local\n32000:\tfrom all fwmark 0x1000/0x1000 lookup 1533\n32766:\tfrom all lookup main\n';
const ROUTE = 'local default dev lo scope host \n';

t.test('the rules, IPv4 and IPv6', async (t) => {
  t.same(v4.chainRules, [MARK]);
  t.same(v4.ruleAdd, ['rule', 'add', 'fwmark', '0x1000/0x1000', 'lookup', '1533', 'pref', '32000']);
  t.same(v6.ruleAdd, ['-6', 'rule', 'add', 'fwmark', '0x1000/0x1000', 'lookup', '1533', 'pref', '32000']);
  t.same(v4.routeReplace, ['route', 'replace', 'local', 'default', 'dev', 'lo', 'table', '1533']);
  t.same(v6.routeList, ['-6', 'route', 'show', 'table', '1533']);
  t.equal(v4.ruleLine, '32000: from all fwmark 0x1000/0x1000 lookup 1533');
});

t.test('a fresh table: chain, rule and a jump inserted first', async (t) => {
  t.equal(renderReturnRestore(v4, parseSave(mangle(), 'mangle')), [
    '# meshlet return path (ipv4, mangle table)', '*mangle', ':MESHLET_RETURN - [0:0]', MARK, '-I PREROUTING 1 -p tcp -j MESHLET_RETURN', 'COMMIT', '',
  ].join('\n'));
});

t.test('the right jump in place: only the chain is refilled', async (t) => {
  const text = renderReturnRestore(v4, parseSave(mangle(JUMP, '-A PREROUTING -j ACCEPT', MARK), 'mangle'));
  t.notMatch(text, /-I PREROUTING|-D /);
});

t.test('a misplaced and a duplicate jump are deleted and one is inserted first', async (t) => {
  const saved = parseSave(mangle('-A PREROUTING -j ACCEPT', JUMP, JUMP, MARK), 'mangle');
  const lines = renderReturnRestore(v4, saved).split('\n');
  t.same(lines.filter((l) => l.startsWith('-D ')), ['-D PREROUTING -p tcp -j MESHLET_RETURN', '-D PREROUTING -p tcp -j MESHLET_RETURN']);
  t.equal(lines.filter((l) => l.startsWith('-I ')).length, 1);
});

t.test('clean: nothing to do on a clean table; else references then the chain', async (t) => {
  t.equal(cleanReturnRestore(parseSave(mangle(), 'mangle')), undefined);
  t.equal(cleanReturnRestore(parseSave(mangle(JUMP, MARK), 'mangle')), [
    '# meshlet clean: the return path', '*mangle', '-D PREROUTING -p tcp -j MESHLET_RETURN', '-F MESHLET_RETURN', '-X MESHLET_RETURN', 'COMMIT', '',
  ].join('\n'));
});

t.test('drift: in sync', async (t) => {
  t.same(diffReturnPath(v4, parseSave(mangle(JUMP, MARK), 'mangle'), RULES, ROUTE), { inSync: true, missing: [], unexpected: [] });
  t.equal(diffReturnPath(v6, parseSave(mangle(JUMP, MARK), 'mangle'), RULES, 'local default dev lo metric 1024 pref medium\n').inSync, true, 'IPv6 route text');
});

t.test('drift: each piece missing or wrong', async (t) => {
  t.same(diffReturnPath(v4, parseSave(mangle(), 'mangle'), RULES, ROUTE).missing, [':MESHLET_RETURN', MARK, '-A PREROUTING -p tcp -j MESHLET_RETURN (mangle, must be rule 1)']);
  t.same(diffReturnPath(v4, parseSave(mangle(JUMP, '-A MESHLET_RETURN -p tcp -j MARK --set-xmark 0x1000/0x1000'), 'mangle'), RULES, ROUTE), {
    inSync: false, missing: [MARK], unexpected: ['-A MESHLET_RETURN -p tcp -j MARK --set-xmark 0x1000/0x1000'],
  });
  t.same(diffReturnPath(v4, parseSave(mangle(JUMP, MARK), 'mangle'), '0:\tfrom all lookup local\n', ROUTE).missing, ['ip rule add fwmark 0x1000/0x1000 lookup 1533 pref 32000']);
  t.same(diffReturnPath(v4, parseSave(mangle(JUMP, MARK), 'mangle'), RULES + RULES, ROUTE).unexpected, ['ip rule 32000: from all fwmark 0x1000/0x1000 lookup 1533 (duplicate)']);
  t.same(diffReturnPath(v4, parseSave(mangle(JUMP, MARK), 'mangle'), RULES, '').missing, ['ip route replace local default dev lo table 1533']);
  t.same(diffReturnPath(v4, parseSave(mangle('-A PREROUTING -j ACCEPT', JUMP, MARK), 'mangle'), RULES, ROUTE), {
    inSync: false, missing: ['-A PREROUTING -p tcp -j MESHLET_RETURN (mangle, must be rule 1)'], unexpected: ['-A PREROUTING -p tcp -j MESHLET_RETURN (mangle PREROUTING rule 2)'],
  });
});

t.test('ip output readers', async (t) => {
  t.equal(countRule(v4, RULES), 1);
  t.equal(countRule(v4, RULES.replace('0x1000/0x1000', '0x1000/0x3000')), 0, 'another mask is another rule');
  t.equal(hasLocalRoute('local default dev lo scope host'), true);
  t.equal(hasLocalRoute('local default dev lo2 scope host'), false);
});

t.test('spec validation names each bad field', async (t) => {
  t.same(checkReturnPath(DEFAULT_RETURN_PATH), []);
  t.same(checkReturnPath({ mark: 0x2000, mask: 0x1000, table: 254, priority: 32766 }), [
    'mark 8192: must be non-zero and within the mask 0x1000',
    'table 254: must be 1..2^32-1 and not 253-255 (default, main, local)',
    'priority 32766: must be 1..32765 (before the main table\'s rule)',
  ]);
  t.throws(() => buildReturnPath({ ...DEFAULT_RETURN_PATH, mask: 0 }, 'ipv4'), /mask 0/);
});
