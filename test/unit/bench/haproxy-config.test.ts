import t from 'tap';
import { globalSection, haproxyGroup } from '../../../bench/haproxy-config.js';

t.test('a hybrid post-quantum group HAProxy 2.6 cannot pin falls back to its classical half', async (t) => {
  t.equal(haproxyGroup('X25519MLKEM768'), 'X25519', 'what Node.js 24 negotiates');
  t.equal(haproxyGroup('x25519mlkem768'), 'X25519', 'whatever the case');
  t.equal(haproxyGroup('unknown'), 'X25519', 'what Node.js 22 reports for the same hybrid group');
  t.equal(haproxyGroup('X25519'), 'X25519', 'a classical group is kept');
  t.equal(haproxyGroup('P-256'), 'P-256');
  const lines = globalSection(1, 100, { version: 'TLSv1.3', cipherSuite: 'TLS_AES_256_GCM_SHA384', group: 'X25519MLKEM768' });
  t.ok(lines.includes('  ssl-default-bind-curves X25519'), 'the pair pins the group it can');
  t.notOk(lines.some((l) => l.includes('MLKEM')), 'and never names the hybrid');
});
