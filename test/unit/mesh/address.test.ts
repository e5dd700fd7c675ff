/**
 * The one address module (src/mesh/address.ts). parseAuthority is also fuzzed
 * (test/fuzz/targets/tunnel-headers.ts) and covered in test/unit/agent/tunnel-server.test.ts.
 */
import t from 'tap';
import { formatIpv6, forwardedFor, hostPort, parseAuthority, plainAddress } from '../../../src/mesh/address.js';

t.test('hostPort brackets IPv6 only', async (t) => {
  t.equal(hostPort('10.0.0.1', 80), '10.0.0.1:80');
  t.equal(hostPort('fd00::1', 15008), '[fd00::1]:15008');
});

t.test('parseAuthority accepts exactly address:port and round-trips hostPort', async (t) => {
  t.same(parseAuthority('1.2.3.4:80'), { address: '1.2.3.4', port: 80 });
  t.same(parseAuthority('[::1]:443'), { address: '::1', port: 443 });
  t.same(parseAuthority(hostPort('fd00::a', 65535)), { address: 'fd00::a', port: 65535 });
  const refused = ['1.2.3.4', '1.2.3.4:0', '1.2.3.4:65536', '0:80', '127.1:80', '999.1.1.1:80', '[1.2.3.4]:80', '::1:80', 'host:80', ' 1.2.3.4:80', '1.2.3.4:080000'];
  t.same(refused.map((a) => parseAuthority(a)), refused.map(() => undefined));
  t.equal(parseAuthority(undefined), undefined);
});

t.test('plainAddress strips the IPv4-mapped prefix only', async (t) => {
  t.same(['::ffff:10.0.0.1', '10.0.0.1', '::ffff:a00:1', 'fd00::1', undefined].map(plainAddress), ['10.0.0.1', '10.0.0.1', '::ffff:a00:1', 'fd00::1', '']);
});

t.test('formatIpv6 is RFC 5952: lowercase, no leading zeros, first longest run of 2+ zeros', async (t) => {
  t.equal(formatIpv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), '2001:db8::1');
  t.equal(formatIpv6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), '2001:db8:0:1:1:1:1:1', 'a single zero word stays');
  t.equal(formatIpv6([0x2001, 0, 0, 1, 0, 0, 0, 1]), '2001:0:0:1::1', 'the longest run wins');
  t.equal(formatIpv6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), '2001:db8::1:0:0:1', 'the first of equal runs wins');
  t.equal(formatIpv6([0, 0, 0, 0, 0, 0, 0, 0]), '::');
  t.equal(formatIpv6([0, 0, 0, 0, 0, 0, 0, 1]), '::1');
  t.equal(formatIpv6([0xfe80, 0, 0, 0, 0, 0, 0, 0]), 'fe80::');
  t.equal(formatIpv6([0xABCD, 0, 0, 0, 0, 0, 0, 0]), 'abcd::');
});

t.test('forwardedFor reads the address of Forwarded: for= (access log only)', async (t) => {
  t.equal(forwardedFor('for="198.18.1.10:40000"'), '198.18.1.10:40000');
  t.equal(forwardedFor('for="[fd00::1]:80"'), '[fd00::1]:80');
  t.equal(forwardedFor(undefined), undefined);
  t.equal(forwardedFor('by=x'), undefined);
  t.equal(forwardedFor('for="<script>"'), undefined, 'only address characters are taken');
  t.equal(forwardedFor(['for="10.0.0.1:1"', 'for="10.0.0.2:2"']), '10.0.0.1:1', 'the first of repeated headers');
  t.equal(forwardedFor(`for="10.0.0.1:1";${'x'.repeat(128)}`), undefined, 'an overlong header is not read');
});
