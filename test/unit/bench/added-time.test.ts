import t, { type Test } from 'tap';
import { addedTimeFigures, MESSAGE_BYTES, nodeHops, pairHop, plainMessageTimes, tlsMessages } from '../../../bench/added-time.js';
import { reassemble, readPcap, type StreamChunk } from '../../../bench/pcap.js';
import { isMeshletError } from '../../../src/mesh/errors.js';

/** One captured packet for {@link pcap}. */
interface Pkt {
  readonly ns: number;
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly seq: number;
  readonly payload: Buffer;
  /** Announce more bytes than were captured. */
  readonly cut?: boolean;
  /** Not TCP (UDP). */
  readonly udp?: boolean;
}

function ip(a: string): number[] {
  return a.split('.').map(Number);
}

/** A pcap file as tcpdump writes it: nanosecond magic, LINUX_SLL2 (or LINUX_SLL / Ethernet) link headers. */
function pcap(pkts: readonly Pkt[], linktype = 276, nano = true): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(262144, 16);
  head.writeUInt32LE(linktype, 20);
  const parts = [head];
  for (const p of pkts) {
    const link = Buffer.alloc(linktype === 276 ? 20 : linktype === 113 ? 16 : 14);
    link.writeUInt16BE(0x0800, linktype === 276 ? 0 : linktype === 113 ? 14 : 12);
    const iph = Buffer.alloc(20);
    iph[0] = 0x45;
    iph.writeUInt16BE(20 + 20 + p.payload.length, 2);
    iph[9] = p.udp === true ? 17 : 6;
    Buffer.from(ip(p.src)).copy(iph, 12);
    Buffer.from(ip(p.dst)).copy(iph, 16);
    const tcp = Buffer.alloc(20);
    tcp.writeUInt16BE(p.sport, 0);
    tcp.writeUInt16BE(p.dport, 2);
    tcp.writeUInt32BE(p.seq >>> 0, 4);
    tcp[12] = 5 << 4;
    const whole = Buffer.concat([link, iph, tcp, p.payload]);
    const kept = p.cut === true ? whole.subarray(0, whole.length - 10) : whole;
    const rec = Buffer.alloc(16);
    const sec = 1_765_000_000 + Math.floor(p.ns / 1e9);
    rec.writeUInt32LE(sec, 0);
    rec.writeUInt32LE(nano ? p.ns % 1e9 : Math.floor((p.ns % 1e9) / 1000), 4);
    rec.writeUInt32LE(kept.length, 8);
    rec.writeUInt32LE(whole.length, 12);
    parts.push(rec, kept);
  }
  return Buffer.concat(parts);
}

/** A TLS 1.3 application-data record carrying `plain` bytes of plaintext (contents do not matter). */
function record(plain: number, type = 23): Buffer {
  const r = Buffer.alloc(5 + plain + 17);
  r[0] = type;
  r[1] = 3;
  r[2] = 3;
  r.writeUInt16BE(plain + 17, 3);
  return r;
}

const msg = (n = 1): Buffer => Buffer.alloc(MESSAGE_BYTES * n, 0x61);
const chunks = (...list: [number, Buffer][]): StreamChunk[] => list.map(([tsNs, data]) => ({ tsNs, data }));

function refused(t: Test, fn: () => unknown, what: RegExp, why: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  t.ok(isMeshletError(err, 'MESHLET_ERR_HOST_TOOL'), `${why}: MESHLET_ERR_HOST_TOOL`);
  t.match((err as Error | undefined)?.message ?? '', what, why);
}

const A = '198.18.1.2';
const B = '198.18.0.1';
const base = { src: A, dst: B, sport: 40000, dport: 80 };

t.test('readPcap reads the link types tcpdump writes, both timestamp precisions, TCP with payload only', async (t) => {
  const pkts: Pkt[] = [
    { ...base, ns: 1_000, seq: 1, payload: Buffer.from('hello') },
    { ...base, ns: 2_000, seq: 6, payload: Buffer.alloc(0) },
    { ...base, ns: 3_000, seq: 6, payload: Buffer.from('x'), udp: true },
    { ...base, ns: 1_000_004_000, seq: 6, payload: Buffer.from('world') },
  ];
  for (const [linktype, name] of [[276, 'LINUX_SLL2'], [113, 'LINUX_SLL'], [1, 'Ethernet']] as const) {
    const segs = readPcap(pcap(pkts, linktype));
    t.same(segs.map((s) => [s.tsNs, s.flow, s.payload.toString(), s.seq]), [[1_000, `${A}:40000>${B}:80`, 'hello', 1], [1_000_004_000, `${A}:40000>${B}:80`, 'world', 6]], name);
  }
  const micro = readPcap(pcap(pkts, 276, false));
  t.same(micro.map((s) => s.tsNs), [1_000, 1_000_004_000], 'microsecond files in ns');
});

t.test('readPcap refuses what it cannot read, naming it', async (t) => {
  const good = pcap([{ ...base, ns: 1, seq: 1, payload: Buffer.from('abc') }]);
  refused(t, () => readPcap(good.subarray(0, 10)), /shorter than its header/, 'a file shorter than its header');
  refused(t, () => readPcap(Buffer.concat([Buffer.from([0x0a, 0x0d, 0x0d, 0x0a]), good.subarray(4)])), /unknown magic .*pcapng/, 'pcapng');
  const other = Buffer.from(good);
  other.writeUInt32LE(228, 20);
  refused(t, () => readPcap(other), /link type 228/, 'an unknown link type');
  refused(t, () => readPcap(good.subarray(0, good.length - 2)), /record 1: .* announced/, 'a truncated record');
  refused(t, () => readPcap(good.subarray(0, 30)), /record 1: header truncated/, 'a truncated record header');
  refused(t, () => readPcap(pcap([{ ...base, ns: 1, seq: 1, payload: Buffer.alloc(100), cut: true }])), /cut at .* -s 0/, 'a packet cut by the snapshot length');
});

t.test('reassemble: retransmissions count once (first time), overlaps are trimmed, a gap is refused', async (t) => {
  const seg = (ns: number, seq: number, text: string): Pkt => ({ ...base, ns, seq, payload: Buffer.from(text) });
  const streams = reassemble(readPcap(pcap([seg(1, 100, 'abc'), seg(2, 100, 'abc'), seg(3, 102, 'cde'), seg(4, 105, 'f')])));
  const list = streams.get(`${A}:40000>${B}:80`)?.chunks ?? [];
  t.same(list.map((c) => [c.tsNs, c.data.toString()]), [[1, 'abc'], [3, 'de'], [4, 'f']]);
  // Sequence numbers wrap at 2^32.
  const wrapped = reassemble(readPcap(pcap([seg(1, 0xfffffffe, 'ab'), seg(2, 0, 'cd')])));
  t.same((wrapped.get(`${A}:40000>${B}:80`)?.chunks ?? []).map((c) => c.data.toString()), ['ab', 'cd'], 'across the wrap');
  refused(t, () => reassemble(readPcap(pcap([seg(1, 100, 'abc'), seg(2, 110, 'x')]))), /7 bytes of .* missing/, 'a gap');
});

t.test('plain streams: a message is in when its last byte is', async (t) => {
  const half = MESSAGE_BYTES / 2;
  t.same(plainMessageTimes(chunks([10, msg()], [20, Buffer.alloc(half)], [30, Buffer.alloc(half)], [40, msg(2)])), [10, 30, 40, 40]);
  t.same(plainMessageTimes(chunks([10, Buffer.alloc(half)])), [], 'half a message is none');
});

t.test('TLS streams: records walked across segments; control records count nothing, coalesced ones each message', async (t) => {
  const one = record(MESSAGE_BYTES + 9);
  const stream = Buffer.concat([record(13), one, record(2 * MESSAGE_BYTES + 9), record(40, 22), record(MESSAGE_BYTES)]);
  // Split anywhere: inside a header, inside a body.
  const cut1 = 13 + 5 + 17 + 3;
  const cut2 = cut1 + 700;
  const m = tlsMessages(chunks([1, stream.subarray(0, cut1)], [2, stream.subarray(cut1, cut2)], [3, stream.subarray(cut2)]));
  t.same(m.times, [3, 3, 3, 3], 'one + two + one messages, all ending in the last segment');
  t.equal(m.splitAt, undefined, 'whole messages and small control records only');
  t.same(tlsMessages(chunks([5, one], [6, record(MESSAGE_BYTES + 9 + 13)])).times, [5, 6], 'a DATA frame with a WINDOW_UPDATE in one record is one message');
  const hello = tlsMessages(chunks([1, record(1788)], [2, record(264)], [3, one], [4, record(13)]));
  t.same(hello.times, [3], 'a certificate flight and a ticket before the first message count nothing');
  t.equal(hello.splitAt, undefined, 'and do not spoil the count');
  const split = tlsMessages(chunks([6, one], [7, record(MESSAGE_BYTES + 512)], [8, record(512 + 9)]));
  t.equal(split.splitAt, 7, 'a message and a half after the first message: counting stops being exact there');
  refused(t, () => tlsMessages(chunks([1, Buffer.concat([one, Buffer.from('GET / HTTP/1.1\r\n')])]), MESSAGE_BYTES, 'f'), new RegExp(`f: no TLS record header at byte ${one.length}`), 'a stream that is not TLS');
  refused(t, () => tlsMessages(chunks([1, one.subarray(100)])), /at byte 0/, 'a capture that starts inside a record');
});

t.test('pairHop: the k-th in with the k-th out, reported from the pairing point; what could be paired wrong is refused', async (t) => {
  const ms = 1e6;
  const ins = Array.from({ length: 40 }, (_, i) => i * ms);
  const outs = ins.map((x) => x + 50_000);
  t.same(pairHop(ins, outs, 37.5 * ms), [50_000, 50_000], 'the messages after the pairing point');
  t.equal(pairHop(ins, outs, 0).length, 40);
  // Queueing: message 2 waited; 3 came out right behind it.
  t.same(pairHop(ins.slice(0, 5), [0.1, 1.1, 3.2, 3.3, 4.1].map((x) => x * ms), 0).map((d) => Math.round(d / 1000)), [100, 100, 1200, 300, 100]);
  // The client reset at its exit: the last two messages in never went out.
  t.equal(pairHop(ins, outs.slice(0, 38), 0).length, 38, 'a short tail without a pair is left out');
  refused(t, () => pairHop(ins, outs.slice(0, 37), 0, 'h'), /h: 40 messages in and only 37 out/, 'more lost than a tail');
  refused(t, () => pairHop(ins.slice(0, 2), [0.5, 0.7, 2].map((x) => x * ms), 0, 'h'), /h: 2 messages in and 3 out/, 'one message too many');
  refused(t, () => pairHop(ins, outs, 0, 'h', 2.5 * ms), /h: a TLS record at 2\.500 ms of the capture carries part of a message/, 'a split record');
  refused(t, () => pairHop(ins.slice(0, 3), [0.5, 0.7, 3].map((x) => x * ms), 0, 'h'), /h: message 1 out 300000 ns before it came in/, 'a pair that goes back in time');
  refused(t, () => pairHop([], [], 0, 'h'), /h: no message in/, 'nothing in');
  refused(t, () => pairHop(ins.slice(0, 2), outs.slice(0, 2), 5 * ms, 'h'), /no message paired after the pairing point \(2 before it\)/, 'nothing after the pairing point');
});

t.test('nodeHops: a node\'s capture, pod side and fabric side, both ways', async (t) => {
  const pod = '198.18.1.10';
  const self = '198.18.0.1';
  const peer = '198.18.0.2';
  const pkts: Pkt[] = [];
  let podSeq = 1000;
  let podBackSeq = 5000;
  let fabSeq = 1;
  let fabBackSeq = 7;
  // A flow the node does not care about (its admin port), and a session ticket on the fabric.
  pkts.push({ src: '198.18.0.1', dst: '198.18.0.1', sport: 1, dport: 15000, ns: 0, seq: 1, payload: Buffer.from('GET /') });
  pkts.push({ src: peer, dst: self, sport: 15008, dport: 33000, ns: 1, seq: fabBackSeq, payload: record(200) });
  fabBackSeq += record(200).length;
  for (let i = 0; i < 20; i += 1) {
    const at = 1e6 + i * 1e6;
    pkts.push({ src: pod, dst: '198.19.0.10', sport: 44000, dport: 80, ns: at, seq: podSeq, payload: msg() });
    podSeq += MESSAGE_BYTES;
    const out = record(MESSAGE_BYTES + 9);
    pkts.push({ src: self, dst: peer, sport: 33000, dport: 15008, ns: at + 30_000 + i, seq: fabSeq, payload: out });
    fabSeq += out.length;
    const back = record(MESSAGE_BYTES + 9);
    pkts.push({ src: peer, dst: self, sport: 15008, dport: 33000, ns: at + 400_000, seq: fabBackSeq, payload: back });
    fabBackSeq += back.length;
    pkts.push({ src: '198.19.0.10', dst: pod, sport: 80, dport: 44000, ns: at + 420_000, seq: podBackSeq, payload: msg() });
    podBackSeq += MESSAGE_BYTES;
  }
  const hops = nodeHops(reassemble(readPcap(pcap(pkts))), { node: 'node1', podAddress: pod, peerAddress: peer }, 5e6);
  t.equal(hops.out.length, 15, 'pod -> fabric: the messages after the 5 ms skip');
  t.same(hops.out, Array.from({ length: 15 }, (_, i) => 30_000 + i + 5));
  // The session ticket at 0 ns does not move the pairing point: the pod side's first message does.
  t.same(hops.back, Array.from({ length: 15 }, () => 20_000), 'fabric -> pod, from the same point');
  refused(t, () => nodeHops(reassemble(readPcap(pcap(pkts))), { node: 'node1', podAddress: '198.18.1.99', peerAddress: peer }, 0), /node1: no message of 198\.18\.1\.99/, 'a capture without the pod');
  const f = addedTimeFigures([...hops.out, ...hops.back]);
  t.equal(f.hops, 30);
  t.equal(f.hopP50Us, 20, 'p50: half the hops are 20 µs');
  t.equal(f.hopMaxUs, 30.019);
  refused(t, () => addedTimeFigures([]), /no hop measured/, 'no sample');
});
