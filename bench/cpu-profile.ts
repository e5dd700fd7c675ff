/**
 * Summaries of V8 CPU profiles (`node --cpu-prof` writes them as `.cpuprofile` JSON): self
 * time per function and per category (idle, GC, TLS, HTTP/2, sockets, logging, meshlet's own
 * code...). Pure, apart from {@link readCpuProfile}.
 *
 * @module
 */

import { readFileSync } from 'node:fs';
import { MeshletError } from '../src/mesh/errors.js';
import type { ProfileSummary } from './bench-types.js';

/** The parts of a `.cpuprofile` this module reads. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
    readonly children?: readonly number[];
  }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function isCpuProfile(v: unknown): v is CpuProfile {
  const o = v as Partial<CpuProfile> | null;
  return typeof o === 'object' && o !== null && Array.isArray(o.nodes) && Array.isArray(o.samples) && Array.isArray(o.timeDeltas);
}

/** Reads and checks a `.cpuprofile` file. */
export function readCpuProfile(path: string): CpuProfile {
  const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!isCpuProfile(v)) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `${path} is not a V8 CPU profile`);
  return v;
}

/** The category of samples where the agent waited for I/O. */
export const IDLE_CATEGORY = 'idle (waiting in epoll)';

/** Which part of the agent a frame belongs to; the order of the tests matters. */
export function categoryOf(functionName: string, url: string): string {
  if (functionName === '(idle)') return IDLE_CATEGORY;
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(program)') return 'native code outside JS (V8, libuv, OpenSSL, nghttp2)';
  if (/node_modules\/(pino|sonic-boom|thread-stream|fast-redact|quick-format)/.test(url)) return 'logging (pino)';
  if (url.includes('node_modules/')) return 'other dependencies';
  if (url.includes('/dist/src/')) return 'meshlet code';
  if (/^node:(internal\/)?http2/.test(url)) return 'HTTP/2 (node:http2)';
  if (/^node:(_tls|tls|internal\/tls)/.test(url)) return 'TLS (node:tls)';
  if (/^node:(net|stream|internal\/stream|internal\/streams)/.test(url)) return 'sockets and streams';
  if (url.startsWith('node:')) return 'other Node.js internals';
  if (url === '') return 'native functions called from JS';
  return 'other';
}

function shortLocation(url: string, line: number): string {
  if (url === '') return '(native)';
  const i = url.lastIndexOf('/node_modules/');
  const j = url.indexOf('/dist/');
  const short = i >= 0 ? url.slice(i + 1) : j >= 0 ? url.slice(j + 1) : url;
  return line >= 0 ? `${short}:${line + 1}` : short;
}

const SYNTHETIC = new Set(['(idle)', '(garbage collector)', '(program)', '(root)']);
/** How far up the stack to look for the meshlet function that led to a hot frame. */
const MAX_CALLER_DEPTH = 40;

/** For each node: the nearest meshlet frame above it (itself excluded), as "name location". */
function meshletCallers(profile: CpuProfile): Map<number, string> {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const out = new Map<number, string>();
  for (const n of profile.nodes) {
    let cur = parent.get(n.id);
    for (let depth = 0; cur !== undefined && depth < MAX_CALLER_DEPTH; depth += 1) {
      const f = byId.get(cur);
      if (f !== undefined && f.url.includes('/dist/src/')) {
        out.set(n.id, `${f.functionName === '' ? '(anonymous)' : f.functionName} ${shortLocation(f.url, f.lineNumber)}`);
        break;
      }
      cur = parent.get(cur);
    }
  }
  return out;
}

/**
 * Self time per category and the `top` functions by self time. Each sample's time delta is
 * charged to the frame on top of the stack in that sample.
 */
export function summarizeCpuProfile(profile: CpuProfile, node: string, file: string, top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const selfUs = new Map<number, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const dt = Math.max(0, profile.timeDeltas[i] ?? 0);
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    totalUs += dt;
  });
  const categories = new Map<string, number>();
  const functions = new Map<string, { name: string; location: string; us: number; via: Map<string, number> }>();
  const callers = meshletCallers(profile);
  for (const [id, us] of selfUs) {
    const frame = byId.get(id);
    if (frame === undefined) continue;
    const cat = categoryOf(frame.functionName, frame.url);
    categories.set(cat, (categories.get(cat) ?? 0) + us);
    if (SYNTHETIC.has(frame.functionName)) continue;
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
    const location = shortLocation(frame.url, frame.lineNumber);
    const key = `${name} ${location}`;
    const f = functions.get(key) ?? { name, location, us: 0, via: new Map<string, number>() };
    f.us += us;
    const via = callers.get(id);
    if (via !== undefined) f.via.set(via, (f.via.get(via) ?? 0) + us);
    functions.set(key, f);
  }
  // Shares are of busy time: how much of the agent's work each part is, whatever the load.
  const idleUs = categories.get(IDLE_CATEGORY) ?? 0;
  categories.delete(IDLE_CATEGORY);
  const busyUs = totalUs - idleUs;
  const share = (us: number): number => (busyUs <= 0 ? 0 : us / busyUs);
  return {
    node,
    file,
    totalMs: totalUs / 1000,
    busyMs: busyUs / 1000,
    categories: [...categories].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, ms: us / 1000, share: share(us) })),
    topFunctions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => {
        // Named only when one meshlet caller accounts for most of the time, or it misleads.
        const [via, viaUs] = [...f.via].sort((a, b) => b[1] - a[1])[0] ?? [undefined, 0];
        const main = via !== undefined && viaUs * 2 >= f.us;
        return { name: f.name, location: f.location, selfMs: f.us / 1000, share: share(f.us), ...(main ? { via } : {}) };
      }),
  };
}
