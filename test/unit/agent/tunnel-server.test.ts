/** The tunnel server's CONNECT authority parsing: only `<ip>:<port>` and `[<ip>]:<port>` pass. */
import t from 'tap';
import { parseAuthority } from '../../../src/mesh/address.js';

t.test('IPv4 and bracketed IPv6 authorities parse', async (t) => {
  t.same(parseAuthority('198.18.1.2:8080'), { address: '198.18.1.2', port: 8080 });
  t.same(parseAuthority('[2001:db8::1]:443'), { address: '2001:db8::1', port: 443 });
  t.same(parseAuthority('[::ffff:198.18.1.2]:80'), { address: '::ffff:198.18.1.2', port: 80 });
});

t.test('what is not an address and a port is refused', async (t) => {
  for (const bad of [undefined, '', 'web:80', '198.18.1.2', '198.18.1.2:0', '198.18.1.2:65536', '[::1]', '2001:db8::1:80', '198.18.1.2:80 ']) {
    t.equal(parseAuthority(bad), undefined, JSON.stringify(bad));
  }
});

t.test('digits and dots that are no IP address are refused (found by fuzzing)', async (t) => {
  // The pattern let these through as "addresses"; a dial would hand them to getaddrinfo, which
  // reads `127.1` as 127.0.0.1 and `0` as 0.0.0.0.
  for (const bad of ['[0]:80', '[0.0.0]:1', '127.1:15000', '0:80', '999.1.1.1:80', '1.2.3.4.5:80', '[:::::]:80', '[1.2.3.4]:80']) {
    t.equal(parseAuthority(bad), undefined, bad);
  }
});
