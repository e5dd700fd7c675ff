import t from 'tap';
import { parseWorkloadAddress } from '../../../src/iptables/ip-address.js';

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
    ['fe80::1', 'fe80::1'],
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
    '::', '::1', '::ffff:198.18.1.2', '::198.18.1.2', 'ff02::1',
  ];
  for (const value of bad) {
    const parsed = parseWorkloadAddress(value);
    t.notOk(parsed.ok, `${JSON.stringify(value)} refused`);
    if (!parsed.ok) t.ok(parsed.reason.length > 0, 'with a reason');
  }
});
