import t from 'tap';
import { decodeSockaddr } from '../../../src/agent/proxy/original-dst.js';

t.test('decodes sockaddr_in', async (t) => {
  const b = Buffer.alloc(28);
  b.writeUInt16LE(2, 0);
  b.writeUInt16BE(8080, 2);
  b.set([198, 19, 0, 10], 4);
  t.same(decodeSockaddr(b), { address: '198.19.0.10', port: 8080, family: 4 });
});

t.test('decodes sockaddr_in6 with RFC 5952 compression', async (t) => {
  const cases: Array<[number[], string]> = [
    [[0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    [[0xfd00, 0, 0, 0, 0, 0, 0, 0x10], 'fd00::10'],
    [[0x2001, 0xdb8, 0, 1, 0, 0, 0, 1], '2001:db8:0:1::1'],
    [[0x2001, 0xdb8, 1, 2, 3, 4, 5, 6], '2001:db8:1:2:3:4:5:6'],
  ];
  for (const [groups, text] of cases) {
    const b = Buffer.alloc(28);
    b.writeUInt16LE(10, 0);
    b.writeUInt16BE(443, 2);
    groups.forEach((g, i) => b.writeUInt16BE(g, 8 + i * 2));
    t.same(decodeSockaddr(b), { address: text, port: 443, family: 6 }, text);
  }
});

t.test('rejects an unknown family', async (t) => {
  const b = Buffer.alloc(28);
  b.writeUInt16LE(1, 0);
  t.throws(() => decodeSockaddr(b), { code: 'MESHLET_ERR_ORIGINAL_DST' });
});
