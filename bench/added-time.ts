/**
 * The time each proxy adds to each message, measured outside the proxy: `tcpdump` in each
 * node's namespace timestamps every segment as it crosses the node's interfaces (the kernel's
 * clock, the same for every namespace), and a latency run's fixed-size messages are followed
 * from the pod side into the proxy and out on the fabric side (and back). A proxy hop's time is
 * then what the message spent between the two interfaces: the kernel's socket work on both
 * sides and the proxy's own time, including the time the message waited for the proxy's
 * event loop, which no measurement inside the proxy can see.
 *
 * How a message is found in each stream:
 * - pod side (plain TCP): every {@link MESSAGE_BYTES}-byte boundary of the reassembled stream;
 *   a message is in when the segment carrying its last byte is;
 * - fabric side (TLS 1.3, both proxies negotiate it; the bench probes it): the TLS records,
 *   whose headers are plain text. An application-data record carries `length - 17` bytes of
 *   plaintext: for HAProxy the messages themselves, for meshlet HTTP/2 frames (a 9-byte DATA
 *   frame header per write, and now and then a small control frame). A record counts
 *   `floor(plaintext / message size)` messages: framing and control frames (WINDOW_UPDATE,
 *   PING, a session ticket) are far below a message and count for nothing, and a record that
 *   coalesced several messages counts each. A message split across records (a proxy that read
 *   half of one) would be miscounted: the count check below then refuses the run.
 *
 * Both sides of a hop count every message of the run's connection from its first, so the k-th
 * message in pairs with the k-th out. TLS records before the first message (the handshake,
 * session tickets) count for nothing; after it, every record must hold whole messages, and
 * only a short tail may lack a pair (the client's reset at its exit drops what the proxies had
 * not passed on); otherwise the pairing could be wrong and the run reports an error, never
 * figures. The client's warm-up (the first {@link SKIP_NS}) is paired but not reported.
 *
 * @module
 */

import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from '../src/lab/index.js';
import { MeshletError } from '../src/mesh/errors.js';
import { LATENCY_MESSAGE_BYTES } from './bench-options.js';
import type { PathName } from './bench-types.js';
import type { PathTarget } from './bench-topology.js';
import type { LoadRunner } from './load-runs.js';
import { reassemble, readPcap, type Stream, type StreamChunk } from './pcap.js';

export const MESSAGE_BYTES = LATENCY_MESSAGE_BYTES;

/** TLS 1.3 application-data overhead per record: the inner content type byte and the 16-byte AEAD tag. */
const TLS13_RECORD_OVERHEAD = 17;
/** The most a TLS record may be (2^14 plaintext plus the most expansion allowed). */
const MAX_RECORD = 16_384 + 256;

/** The paths whose hops are measured: the proxies' fabric sides are TLS. */
export const ADDED_TIME_PATHS: readonly PathName[] = ['meshlet', 'haproxy'];

/** The time of each message in a plain stream: when the segment with its last byte was seen. */
export function plainMessageTimes(chunks: readonly StreamChunk[], unit = MESSAGE_BYTES): number[] {
  const out: number[] = [];
  let bytes = 0;
  for (const c of chunks) {
    const before = Math.floor(bytes / unit);
    bytes += c.data.length;
    for (let k = Math.floor(bytes / unit) - before; k > 0; k -= 1) out.push(c.tsNs);
  }
  return out;
}

/** The most framing a record may carry beyond whole messages (DATA frame headers, a control frame) and still count. */
export const MAX_FRAMING = 64;

/** The messages of a TLS stream, and the first record that makes counting them wrong. */
export interface TlsMessages {
  /** When each message's record ended (ns). */
  readonly times: number[];
  /**
   * When the first irregular record after the stream's first message ended: application data
   * with more than {@link MAX_FRAMING} bytes beyond whole messages, that is part of a message
   * (a proxy that read half of one) or handshake data. Irregular records before the first
   * message are the handshake and session tickets, and count for nothing; one after it means
   * the count cannot be trusted.
   */
  readonly splitAt: number | undefined;
}

/**
 * The messages of a TLS stream: the records' headers are walked across segments; an
 * application-data record of whole messages counts `floor((length - 17) / unit)` of them at
 * the time its last byte was seen. Throws `MESHLET_ERR_HOST_TOOL` when the stream is not TLS
 * records from its first byte.
 */
export function tlsMessages(chunks: readonly StreamChunk[], unit = MESSAGE_BYTES, flow = 'stream'): TlsMessages {
  const times: number[] = [];
  let splitAt: number | undefined;
  const head = Buffer.alloc(5);
  let headFill = 0;
  let body = 0;
  let type = 0;
  let offset = 0;
  for (const c of chunks) {
    let i = 0;
    while (i < c.data.length) {
      if (body > 0) {
        const take = Math.min(body, c.data.length - i);
        body -= take;
        i += take;
        if (body === 0 && type === 23) {
          const plain = recordLength(head) - TLS13_RECORD_OVERHEAD;
          const messages = Math.floor(plain / unit);
          if (plain - messages * unit > MAX_FRAMING) {
            if (times.length > 0) splitAt ??= c.tsNs;
          } else {
            for (let k = 0; k < messages; k += 1) times.push(c.tsNs);
          }
        }
        continue;
      }
      head[headFill++] = c.data[i++] as number;
      if (headFill < 5) continue;
      headFill = 0;
      type = head[0] as number;
      const length = recordLength(head);
      if (type < 20 || type > 24 || head[1] !== 3 || length === 0 || length > MAX_RECORD) {
        throw new MeshletError('MESHLET_ERR_HOST_TOOL', `${flow}: no TLS record header at byte ${offset + i - 5} (${head.toString('hex')})`);
      }
      body = length;
    }
    offset += c.data.length;
  }
  return { times, splitAt };
}

function recordLength(head: Buffer): number {
  return head.readUInt16BE(3);
}

/** The most messages in that may lack a pair, as a share of those in: the client's reset drops a tail. */
export const MAX_TAIL_SHARE = 0.05;

/**
 * Pairs a hop's messages in and out (times in ns, ascending), the k-th in with the k-th out:
 * both sides count every message of the connection from its first, exactly (plain bytes, or
 * TLS records of whole messages; `splitAt` says when a TLS side stopped being countable, which
 * refuses the run). The last messages in may lack a pair: a client that closes with replies
 * unread resets its connection, and what the proxies had not passed on yet is dropped; at most
 * {@link MAX_TAIL_SHARE} of them. Returns the hop times (ns) of the messages that came in at or
 * after `fromNs` (the client's warm-up is left out). Throws `MESHLET_ERR_HOST_TOOL` when the
 * sides cannot be paired.
 */
export function pairHop(inTimes: readonly number[], outTimes: readonly number[], fromNs: number, hop = 'hop', splitAt?: number): number[] {
  const fail = (why: string): never => {
    throw new MeshletError('MESHLET_ERR_HOST_TOOL', `${hop}: ${why}: the capture cannot be paired`);
  };
  if (splitAt !== undefined) fail(`a TLS record at ${(splitAt / 1e6).toFixed(3)} ms of the capture carries part of a message`);
  const n = outTimes.length;
  if (inTimes.length === 0) fail('no message in');
  if (n > inTimes.length) fail(`${inTimes.length} messages in and ${n} out`);
  if (inTimes.length - n > Math.max(1, MAX_TAIL_SHARE * inTimes.length)) fail(`${inTimes.length} messages in and only ${n} out`);
  const out: number[] = [];
  for (let i = 0; i < n; i += 1) {
    const d = (outTimes[i] as number) - (inTimes[i] as number);
    if (d < 0) fail(`message ${i} out ${-d} ns before it came in`);
    if ((inTimes[i] as number) >= fromNs) out.push(d);
  }
  if (out.length === 0) fail(`no message paired after the pairing point (${n} before it)`);
  return out;
}

/** Which addresses a node's capture sees on each side of its proxy. */
export interface NodeSides {
  readonly node: string;
  /** The local pod of the run (the client on node1, the server on node2). */
  readonly podAddress: string;
  /** The other node. */
  readonly peerAddress: string;
}

/**
 * A node's two hops from its reassembled capture: pod in -> fabric out, and fabric in -> pod
 * out, each reported from `skipNs` after the node's first pod-side message. Flows touching neither address are ignored; several flows of
 * one side (a second tunnel session) are merged in time order.
 */
export function nodeHops(streams: ReadonlyMap<string, Stream>, sides: NodeSides, skipNs: number): { readonly out: number[]; readonly back: number[] } {
  const podIn: number[] = [];
  const podOut: number[] = [];
  const fabricIn: number[] = [];
  const fabricOut: number[] = [];
  let splitIn: number | undefined;
  let splitOut: number | undefined;
  for (const [flow, { src, dst, chunks }] of streams) {
    if (src === sides.podAddress) podIn.push(...plainMessageTimes(chunks));
    else if (dst === sides.podAddress) podOut.push(...plainMessageTimes(chunks));
    else if (src === sides.peerAddress || dst === sides.peerAddress) {
      const m = tlsMessages(chunks, MESSAGE_BYTES, flow);
      if (src === sides.peerAddress) {
        fabricIn.push(...m.times);
        splitIn ??= m.splitAt;
      } else {
        fabricOut.push(...m.times);
        splitOut ??= m.splitAt;
      }
    }
  }
  for (const list of [podIn, podOut, fabricIn, fabricOut]) list.sort((x, y) => x - y);
  const first = Math.min(podIn[0] ?? Infinity, podOut[0] ?? Infinity);
  if (first === Infinity) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `${sides.node}: no message of ${sides.podAddress} in the capture`);
  return {
    out: pairHop(podIn, fabricOut, first + skipNs, `${sides.node} pod -> fabric`, splitOut),
    back: pairHop(fabricIn, podOut, first + skipNs, `${sides.node} fabric -> pod`, splitIn),
  };
}

/** The nearest-rank percentile `p` (0-100) of ascending `sorted`. */
function rank(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** The figures a run adds (µs), over every hop of every message (four per round trip). */
export interface AddedTimeFigures {
  readonly hopP50Us: number;
  readonly hopP90Us: number;
  readonly hopP99Us: number;
  readonly hopP999Us: number;
  readonly hopMaxUs: number;
  readonly hops: number;
}

export function addedTimeFigures(samplesNs: readonly number[]): AddedTimeFigures {
  if (samplesNs.length === 0) throw new MeshletError('MESHLET_ERR_HOST_TOOL', 'no hop measured');
  const s = [...samplesNs].sort((x, y) => x - y);
  return {
    hopP50Us: rank(s, 50) / 1000,
    hopP90Us: rank(s, 90) / 1000,
    hopP99Us: rank(s, 99) / 1000,
    hopP999Us: rank(s, 99.9) / 1000,
    hopMaxUs: (s[s.length - 1] as number) / 1000,
    hops: s.length,
  };
}

/** What sockperf does first, unmeasured: its own warm-up is 400 ms; the pairing starts after it. */
export const SKIP_NS = 500e6;
/** How long the capture goes on after the client exits. */
const TAIL_MS = 300;
/** How long tcpdump may take to start listening, and to flush and exit. */
const TCPDUMP_WAIT_MS = 10_000;

interface Capture {
  readonly node: string;
  readonly file: string;
  readonly child: ReturnType<Lab['spawn']>;
  stderr: string;
}

async function startCapture(lab: Lab, node: string, dir: string): Promise<Capture> {
  const file = join(dir, `${node}.pcap`);
  // The whole packet (-s 0), nanosecond stamps, the cooked header of every interface, TCP only.
  const child = lab.spawn(node, 'tcpdump', ['-i', 'any', '-nn', '-s', '0', '-B', '32768', '--time-stamp-precision=nano', '-w', file, 'tcp'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const cap: Capture = { node, file, child, stderr: '' };
  child.stderr?.on('data', (d: Buffer) => (cap.stderr += d.toString('utf8')));
  const started = Date.now();
  while (!cap.stderr.includes('listening on')) {
    if (child.exitCode !== null || Date.now() - started > TCPDUMP_WAIT_MS) {
      child.kill('SIGKILL');
      throw new MeshletError('MESHLET_ERR_HOST_TOOL', `tcpdump in ${node} did not start: ${cap.stderr.trim().slice(-300)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return cap;
}

/** Stops tcpdump (SIGINT: it flushes and prints its counts); throws when the kernel dropped packets. */
async function stopCapture(cap: Capture): Promise<Buffer> {
  const exited = cap.child.exitCode === null ? once(cap.child, 'exit') : Promise.resolve();
  cap.child.kill('SIGINT');
  const timer = setTimeout(() => cap.child.kill('SIGKILL'), TCPDUMP_WAIT_MS);
  await exited;
  clearTimeout(timer);
  const dropped = /(\d+) packets? dropped by kernel/.exec(cap.stderr);
  if (dropped === null) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `tcpdump in ${cap.node} printed no counts: ${cap.stderr.trim().slice(-300)}`);
  if (Number(dropped[1]) > 0) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `tcpdump in ${cap.node}: ${dropped[1]} packets dropped by the kernel`);
  return readFileSync(cap.file);
}

/** With `MESHLET_BENCH_CAPTURES=DIR`, each run's captures are copied there (`<path>-<n>-node1.pcap`), to read with tcpdump -r or Wireshark. */
let kept = 0;
function keepCaptures(dir: string, path: PathName): void {
  const into = process.env['MESHLET_BENCH_CAPTURES'];
  if (into === undefined || into === '') return;
  mkdirSync(into, { recursive: true });
  kept += 1;
  for (const node of ['node1', 'node2']) copyFileSync(join(dir, `${node}.pcap`), join(into, `${path}-${kept}-${node}.pcap`));
}

/** The two nodes of a path and what each sees on its sides. */
function sidesOf(lab: Lab, target: PathTarget): NodeSides[] {
  const n1 = lab.nodeAddress('node1');
  const n2 = lab.nodeAddress('node2');
  return [
    { node: 'node1', podAddress: lab.podAddress(target.clientPod), peerAddress: n2 },
    { node: 'node2', podAddress: lab.podAddress(target.serverPod), peerAddress: n1 },
  ];
}

/**
 * `runner`, and on a path of {@link ADDED_TIME_PATHS} the per-hop added time of its messages
 * (`hopP50Us` ... `hopMaxUs`), from captures in both nodes over the run. A capture that cannot
 * be read or paired marks the run doubtful and keeps its latency figures.
 */
export function withAddedTime(runner: LoadRunner): LoadRunner {
  return async (lab, target, pids, seconds) => {
    if (!ADDED_TIME_PATHS.includes(target.path)) return runner(lab, target, pids, seconds);
    const dir = mkdtempSync(join(tmpdir(), 'meshlet-added-time-'));
    const captures: Capture[] = [];
    try {
      for (const node of ['node1', 'node2']) captures.push(await startCapture(lab, node, dir));
      const outcome = await runner(lab, target, pids, seconds);
      // What the proxies still carry when the client exits reaches the capture too.
      await new Promise((r) => setTimeout(r, TAIL_MS));
      try {
        const files = await Promise.all(captures.splice(0).map(stopCapture));
        keepCaptures(dir, target.path);
        const samples: number[] = [];
        sidesOf(lab, target).forEach((sides, i) => {
          const hops = nodeHops(reassemble(readPcap(files[i] as Buffer)), sides, SKIP_NS);
          samples.push(...hops.out, ...hops.back);
        });
        const { hops: _hops, ...figures } = addedTimeFigures(samples);
        return { ...outcome, values: { ...outcome.values, ...figures } };
      } catch (err) {
        const why = `added time not measured: ${(err as Error).message.slice(0, 400)}`;
        return { ...outcome, error: outcome.error === undefined ? why : `${outcome.error}; ${why}` };
      }
    } finally {
      for (const c of captures) c.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  };
}
