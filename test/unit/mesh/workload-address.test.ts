import t from 'tap';
import { ADDRESS_REASONS, addressPolicy, canonicalAddress, parseWorkloadAddress, workloadAddressProblem } from '../../../src/mesh/workload-address.js';

function text(value: string): string | undefined {
  const parsed = parseWorkloadAddress(value);
  return parsed.ok ? parsed.address.text : undefined;
}

t.test('IPv6 addresses print as iptables-save prints them (RFC 5952)', async (t) => {
  const cases: [string, string][] = [
    ['2001:DB8:0:0::1', '2001:db8::1'],
    ['fd00:0:0:1:0:0:0:1', 'fd00:0:0:1::1'],
    ['2001:db8:0:1:0:0:1:1', '2001:db8:0:1::1:1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0001:0000:0000:0000:0000:0000', '2001:db8:1::'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
    ['2001:db8:0:1:2:3:4:5', '2001:db8:0:1:2:3:4:5'],
    ['64:ff9b::198.18.1.2', '64:ff9b::c612:102'],
    ['fd00::1', 'fd00::1'],
  ];
  for (const [input, want] of cases) t.equal(text(input), want, `${input} -> ${want}`);
});

t.test('IPv4 addresses keep their dotted form and family', async (t) => {
  const parsed = parseWorkloadAddress('198.18.1.2');
  t.ok(parsed.ok);
  if (parsed.ok) {
    t.equal(parsed.address.family, 'ipv4');
    t.equal(parsed.address.text, '198.18.1.2');
  }
});

t.test('sort keys order addresses numerically', async (t) => {
  const key = (v: string): string => {
    const p = parseWorkloadAddress(v);
    return p.ok ? p.address.sortKey : '';
  };
  t.ok(key('198.18.1.2') < key('198.18.1.10'));
  t.ok(key('9.0.0.1') < key('10.0.0.1'));
  t.ok(key('fd00::2') < key('fd00::10'));
  t.ok(key('2001:db8::1') < key('fd00::1'));
});

t.test('non-workload addresses are refused with a reason', async (t) => {
  const bad = [
    '', '198.18.1', '198.18.1.2/32', '01.2.3.4', ' 198.18.1.2', 'fe80::1%eth0', 'host.example',
    '0.0.0.0', '255.255.255.255', '127.0.0.1', '224.0.0.1', '239.1.1.1',
    '::', '::1', '::ffff:198.18.1.2', '::198.18.1.2', 'ff02::1', 'fe80::1', '169.254.169.254',
  ];
  for (const value of bad) {
    const parsed = parseWorkloadAddress(value);
    t.notOk(parsed.ok, `${JSON.stringify(value)} refused`);
    if (!parsed.ok) t.ok(parsed.reason.length > 0, 'with a reason');
  }
});

// Issue 9, finding 1: one address policy, every class refused with its own reason.

t.test('every class the policy refuses, IPv4 and IPv6, with its reason', async (t) => {
  const table: [string, string][] = [
    ['127.0.0.1', ADDRESS_REASONS.loopback],
    ['127.255.255.254', ADDRESS_REASONS.loopback],
    ['::1', ADDRESS_REASONS.loopback],
    ['0:0:0:0:0:0:0:1', ADDRESS_REASONS.loopback],
    ['0.0.0.0', ADDRESS_REASONS.unspecified],
    ['0.1.2.3', ADDRESS_REASONS.unspecified],
    ['::', ADDRESS_REASONS.unspecified],
    ['169.254.169.254', ADDRESS_REASONS.linkLocal],
    ['169.254.0.1', ADDRESS_REASONS.linkLocal],
    ['fe80::1', ADDRESS_REASONS.linkLocal],
    ['febf:ffff::1', ADDRESS_REASONS.linkLocal],
    ['224.0.0.1', ADDRESS_REASONS.multicast],
    ['239.255.255.255', ADDRESS_REASONS.multicast],
    ['ff02::1', ADDRESS_REASONS.multicast],
    ['ff0e::1234', ADDRESS_REASONS.multicast],
    ['255.255.255.255', ADDRESS_REASONS.broadcast],
    ['::ffff:127.0.0.1', ADDRESS_REASONS.embedded],
    ['::ffff:7f00:1', ADDRESS_REASONS.embedded],
    ['::FFFF:169.254.169.254', ADDRESS_REASONS.embedded],
    ['::ffff:198.18.1.2', ADDRESS_REASONS.embedded],
    ['::198.18.1.2', ADDRESS_REASONS.embedded],
    ['fe80::1%eth0', ADDRESS_REASONS.zone],
    ['198.18.1.2%eth0', ADDRESS_REASONS.zone],
    ['2001:db8::1%1', ADDRESS_REASONS.zone],
    ['localhost', ADDRESS_REASONS.notIp],
    ['198.18.1.0/24', ADDRESS_REASONS.notIp],
    ['', ADDRESS_REASONS.notIp],
  ];
  for (const [address, reason] of table) t.equal(workloadAddressProblem(address), reason, JSON.stringify(address));
});

t.test('unicast workload addresses pass, IPv4 and IPv6', async (t) => {
  const good = ['198.18.1.2', '10.244.1.7', '100.64.0.1', '172.16.0.1', '1.1.1.1', '169.253.255.255', '169.255.0.1', '223.255.255.255', '240.0.0.1', 'fd00::a', '2001:db8::1', 'fec0::1', '64:ff9b::c612:102', '::2:0:0:1'];
  for (const address of good) t.equal(workloadAddressProblem(address), undefined, address);
});

t.test("the node's own addresses are refused in any spelling; others pass", async (t) => {
  const policy = addressPolicy({ nodeAddresses: ['198.18.0.1', '2001:DB8:0::10', 'not-an-ip', ''] });
  t.same([...policy.nodeAddresses].sort(), ['198.18.0.1', '2001:db8::10']);
  t.equal(workloadAddressProblem('198.18.0.1', policy), ADDRESS_REASONS.node);
  t.equal(workloadAddressProblem('2001:db8:0:0:0:0:0:10', policy), ADDRESS_REASONS.node);
  t.equal(workloadAddressProblem('198.18.0.2', policy), undefined);
  t.equal(workloadAddressProblem('169.254.169.254', policy), ADDRESS_REASONS.linkLocal, 'classes still apply');
});

t.test('loopback only when a test allows it, and then never as a node address', async (t) => {
  const tests = addressPolicy({ allowLoopback: true, nodeAddresses: ['127.0.0.1', '::1', '198.18.0.1'] });
  t.equal(workloadAddressProblem('127.0.0.1', tests), undefined);
  t.equal(workloadAddressProblem('::1', tests), undefined);
  t.equal(workloadAddressProblem('198.18.0.1', tests), ADDRESS_REASONS.node, 'other node addresses stay refused');
  t.equal(workloadAddressProblem('::ffff:127.0.0.1', tests), ADDRESS_REASONS.embedded, 'mapped forms stay refused');
  t.equal(workloadAddressProblem('0.0.0.0', tests), ADDRESS_REASONS.unspecified);
  t.equal(workloadAddressProblem('127.0.0.1'), ADDRESS_REASONS.loopback, 'the default policy refuses loopback');
});

t.test('canonical text of any address, refused or not', async (t) => {
  t.equal(canonicalAddress('::FFFF:127.0.0.1'), '::ffff:7f00:1');
  t.equal(canonicalAddress('::ffff:7f00:1'), '::ffff:7f00:1');
  t.equal(canonicalAddress('127.0.0.1'), '127.0.0.1');
  t.equal(canonicalAddress('010.0.0.1'), undefined, 'no leading zeros: an IPv4 address isIP takes is already canonical');
  t.equal(canonicalAddress('fe80::1%eth0'), undefined);
  t.equal(canonicalAddress('nope'), undefined);
});
