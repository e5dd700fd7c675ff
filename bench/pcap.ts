/**
 * Reads what `tcpdump -i any -w` wrote: the classic pcap format (microsecond or nanosecond
 * timestamps), Linux "cooked" link headers (`LINUX_SLL`, `LINUX_SLL2`) or Ethernet, IPv4, TCP.
 * Each TCP direction is reassembled into the byte ranges it carried, in order, with the time
 * each range was seen, so a caller can say when a given byte of a stream crossed the capture
 * point. Pure; a capture is another program's output, so every length is checked.
 *
 * @module
 */

import { MeshletError } from '../src/mesh/errors.js';

/** One TCP segment with payload, as captured. */
export interface Segment {
  /** Capture time, nanoseconds since the whole second of the file's first record (exact in a double for 100 days). */
  readonly tsNs: number;
  /** `a.b.c.d:port>e.f.g.h:port`. */
  readonly flow: string;
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  /** The payload (a view into the capture buffer). */
  readonly payload: Buffer;
  readonly seq: number;
}

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_LINUX_SLL2 = 276;

function bad(what: string): never {
  throw new MeshletError('MESHLET_ERR_HOST_TOOL', `pcap capture: ${what}`);
}

function ipv4(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/**
 * The TCP segments with payload in a pcap file's bytes, in capture order. Packets that are not
 * IPv4/TCP, or carry no payload, are skipped; a packet cut short by the snapshot length is an
 * error (its payload would be wrong), as is a truncated file.
 */
export function readPcap(file: Buffer): Segment[] {
  if (file.length < 24) bad(`${file.length} bytes, shorter than its header`);
  const magicLe = file.readUInt32LE(0);
  let le: boolean;
  let nano: boolean;
  if (magicLe === 0xa1b2c3d4 || magicLe === 0xa1b23c4d) {
    le = true;
    nano = magicLe === 0xa1b23c4d;
  } else {
    const magicBe = file.readUInt32BE(0);
    if (magicBe !== 0xa1b2c3d4 && magicBe !== 0xa1b23c4d) bad(`unknown magic 0x${magicLe.toString(16)} (pcapng is not read: write with tcpdump -w)`);
    le = false;
    nano = magicBe === 0xa1b23c4d;
  }
  const u32 = (at: number): number => (le ? file.readUInt32LE(at) : file.readUInt32BE(at));
  const linktype = u32(20) & 0x0fffffff;
  if (linktype !== LINKTYPE_ETHERNET && linktype !== LINKTYPE_LINUX_SLL && linktype !== LINKTYPE_LINUX_SLL2) bad(`link type ${linktype} is not read (Ethernet, LINUX_SLL, LINUX_SLL2 are)`);
  const out: Segment[] = [];
  let at = 24;
  let n = 0;
  let sec0: number | undefined;
  while (at < file.length) {
    n += 1;
    if (at + 16 > file.length) bad(`record ${n}: header truncated`);
    const sec = u32(at);
    const frac = u32(at + 4);
    const incl = u32(at + 8);
    const orig = u32(at + 12);
    const start = at + 16;
    at = start + incl;
    if (at > file.length) bad(`record ${n}: ${incl} bytes announced, ${file.length - start} left`);
    const pkt = file.subarray(start, at);
    const seg = tcpSegment(pkt, linktype);
    if (seg === undefined) continue;
    if (incl < orig) bad(`record ${n}: cut at ${incl} of ${orig} bytes (capture with -s 0)`);
    sec0 ??= sec;
    out.push({ ...seg, tsNs: (sec - sec0) * 1e9 + (nano ? frac : frac * 1000) });
  }
  return out;
}

function tcpSegment(pkt: Buffer, linktype: number): Omit<Segment, 'tsNs'> | undefined {
  let ip: number;
  let proto: number;
  if (linktype === LINKTYPE_LINUX_SLL2) {
    if (pkt.length < 20) return undefined;
    proto = pkt.readUInt16BE(0);
    ip = 20;
  } else if (linktype === LINKTYPE_LINUX_SLL) {
    if (pkt.length < 16) return undefined;
    proto = pkt.readUInt16BE(14);
    ip = 16;
  } else {
    if (pkt.length < 14) return undefined;
    proto = pkt.readUInt16BE(12);
    ip = 14;
  }
  if (proto !== 0x0800 || pkt.length < ip + 20) return undefined;
  const version = (pkt[ip] as number) >> 4;
  const ihl = ((pkt[ip] as number) & 0x0f) * 4;
  if (version !== 4 || ihl < 20 || pkt[ip + 9] !== 6) return undefined;
  const total = pkt.readUInt16BE(ip + 2);
  const tcp = ip + ihl;
  if (pkt.length < tcp + 20) return undefined;
  const dataOffset = ((pkt[tcp + 12] as number) >> 4) * 4;
  const payloadStart = tcp + dataOffset;
  const payloadEnd = ip + total;
  if (dataOffset < 20 || payloadEnd < payloadStart) return undefined;
  if (payloadEnd === payloadStart) return undefined;
  if (payloadEnd > pkt.length) return { ...header(pkt, ip, tcp), payload: Buffer.alloc(0), seq: -1 };
  return { ...header(pkt, ip, tcp), payload: pkt.subarray(payloadStart, payloadEnd), seq: pkt.readUInt32BE(tcp + 4) };
}

function header(pkt: Buffer, ip: number, tcp: number): Pick<Segment, 'flow' | 'src' | 'dst' | 'srcPort' | 'dstPort'> {
  const src = ipv4(pkt, ip + 12);
  const dst = ipv4(pkt, ip + 16);
  const srcPort = pkt.readUInt16BE(tcp);
  const dstPort = pkt.readUInt16BE(tcp + 2);
  return { flow: `${src}:${srcPort}>${dst}:${dstPort}`, src, dst, srcPort, dstPort };
}

/** A direction's bytes, in stream order, each chunk with the time it was first seen. */
export interface StreamChunk {
  readonly tsNs: number;
  readonly data: Buffer;
}

/** One direction of a TCP connection: its endpoints and its bytes in order. */
export interface Stream {
  readonly src: string;
  readonly dst: string;
  readonly chunks: StreamChunk[];
}

/**
 * Reassembles each flow direction (`Segment.flow`) of `segments`: retransmitted bytes are
 * dropped (the first copy's time counts), and a gap (bytes the capture missed) is an error,
 * because everything after it would be counted against the wrong message.
 */
export function reassemble(segments: readonly Segment[]): Map<string, Stream> {
  const next = new Map<string, number>();
  const out = new Map<string, Stream>();
  for (const s of segments) {
    if (s.seq < 0) bad(`a segment of ${s.flow} was cut short by the snapshot length (capture with -s 0)`);
    const expected = next.get(s.flow);
    let data = s.payload;
    if (expected !== undefined) {
      // Sequence arithmetic modulo 2^32: how far this segment starts past the expected byte.
      const ahead = (s.seq - expected) | 0;
      if (ahead > 0) bad(`${ahead} bytes of ${s.flow} missing from the capture`);
      if (-ahead >= data.length) continue;
      data = data.subarray(-ahead);
    }
    next.set(s.flow, (s.seq + s.payload.length) >>> 0);
    let stream = out.get(s.flow);
    if (stream === undefined) out.set(s.flow, (stream = { src: s.src, dst: s.dst, chunks: [] }));
    stream.chunks.push({ tsNs: s.tsNs, data });
  }
  return out;
}
