/**
 * The controller's CPU for a one-pod change, without the rest of controller-scale (issue 17,
 * item 3): the objects of controller-scale's registry (same namespaces, nodes, Services, pods
 * and addresses) held as the YAML source holds them (one frozen object per document, the same
 * object while unchanged), then changes as controller-scale makes them (one pod moves to the
 * next Service, and with it to another namespace), each taken through the state store's path:
 * "did anything change" (before: a digest of every object; now: the updater's identity diff,
 * which the build then reuses), the state's build, and the new version's delta (`ViewHistory.deltaTo`:
 * the diff form, the diff, gzip).
 *
 * Two paths over the same changes, each checked to give the same delta bytes:
 * - `full`: `buildClusterState` of every object and `viewEntries` of the whole view (the path
 *   before the incremental build);
 * - `incremental`: `ClusterStateUpdater` and the history's kept entry texts (the path now).
 *
 *   node dist/bench/state-rebuild.js [--agents 1000] [--pods 100000] [--services 10000] [--repeat 5]
 *
 * Pure computation in this process. A measurement, not a test.
 */
import { deepStrictEqual } from 'node:assert';
import { cpus, loadavg, release } from 'node:os';
import { createHash } from 'node:crypto';
import { objectDigest } from '../src/controller/input-digest.js';
import { ViewHistory } from '../src/controller/agent-api/view-history.js';
import type { PublishedState } from '../src/controller/contracts.js';
import { buildClusterState } from '../src/mesh/cluster-state.js';
import { ClusterStateUpdater } from '../src/mesh/cluster-state-updater.js';
import { objectsFromValue } from '../src/mesh/objects/parse.js';
import { decodeDelta, diffEntries, encodeDelta, viewEntries, type ViewEntries } from '../src/mesh/snapshot-wire/delta.js';
import type { MeshObject } from '../src/mesh/types.js';
import { addressPlan } from './controller-scale/address-plan.js';
import { nodeName } from './controller-scale/registry-files.js';

const args = new Map<string, number>();
for (let i = 2; i + 1 < process.argv.length; i += 2) args.set((process.argv[i] as string).replace(/^--/, ''), Number(process.argv[i + 1]));
const AGENTS = args.get('agents') ?? 1000;
const PODS = args.get('pods') ?? 100_000;
const SERVICES = args.get('services') ?? 10_000;
const REPEAT = Math.max(1, Math.min(51, args.get('repeat') ?? 5));
const NAMESPACES = 10;
const TD = 'cluster.local';
const PLAN = addressPlan({ agents: AGENTS, pods: PODS, services: SERVICES });
const PER_NODE = Math.ceil(PODS / AGENTS);

let docs = 0;
/** One document as the YAML source holds it: validated, frozen. */
function object(doc: unknown): MeshObject {
  const { objects, problems } = objectsFromValue(doc, { file: 'bench.yaml', doc: docs++ });
  if (problems.length > 0 || objects.length !== 1) throw new Error(`bench document refused: ${problems.map((p) => p.text).join('; ')}`);
  return Object.freeze(objects[0] as MeshObject);
}

/** Pod `p` one Service further per generation (controller-scale's `RegistryFiles.nodeText`). */
function pod(p: number, generation: number): MeshObject {
  const svc = (p + generation) % SERVICES;
  const ip = PLAN.pod(p);
  return object({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pod${p}`, namespace: `ns${svc % NAMESPACES}`, labels: { app: `svc${svc}` } },
    spec: { nodeName: nodeName(Math.floor(p / PER_NODE)), serviceAccountName: `sa${svc}`, containers: [{ name: 'app', image: 'bench' }] },
    status: { podIP: ip, podIPs: [{ ip }] },
  });
}

function cluster(): MeshObject[] {
  const out: MeshObject[] = [];
  for (let n = 0; n < NAMESPACES; n++) out.push(object({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${n}`, labels: { 'meshlet.io/mesh': 'enabled' } } }));
  for (let i = 0; i < AGENTS; i++) out.push(object({ apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName(i) }, status: { addresses: [{ type: 'InternalIP', address: PLAN.node(i) }] } }));
  for (let s = 0; s < SERVICES; s++) {
    out.push(object({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc${s}`, namespace: `ns${s % NAMESPACES}` },
      spec: { clusterIP: PLAN.service(s), selector: { app: `svc${s}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    }));
  }
  for (let p = 0; p < PODS; p++) out.push(pod(p, 0));
  return out;
}

/** The store's input digest before the incremental build: every object's digest, sorted, hashed. */
function inputDigest(objects: readonly MeshObject[], trustDomain: string): string {
  const hash = createHash('sha256').update(JSON.stringify(trustDomain));
  for (const d of objects.map(objectDigest).sort()) hash.update(d);
  return hash.digest('hex');
}

/** Heap in use, MB, after a full collection when the process runs with --expose-gc. */
function heapMB(): number {
  global.gc?.();
  return Math.round(process.memoryUsage().heapUsed / 2 ** 20);
}

const ms = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;
const stats = (runs: readonly number[]): { p50: number; min: number; max: number } => {
  const sorted = [...runs].sort((a, b) => a - b);
  const round = (v: number): number => Number(v.toFixed(1));
  return { p50: round(sorted[Math.floor(sorted.length / 2)] ?? NaN), min: round(sorted[0] ?? NaN), max: round(sorted.at(-1) ?? NaN) };
};

interface Step {
  digest: number;
  build: number;
  delta: number;
  total: number;
}

/** The objects after change `k` (1-based): a pod spread over the cluster moves one Service on. */
function changed(objects: readonly MeshObject[], generation: Map<number, number>, k: number): MeshObject[] {
  const p = (k * 7919) % PODS;
  generation.set(p, (generation.get(p) ?? 0) + 1);
  const at = NAMESPACES + AGENTS + SERVICES + p;
  // A fresh list each time, as the store concatenates its sources' lists at each rebuild.
  return objects.map((o, i) => (i === at ? pod(p, generation.get(p) as number) : o));
}

function main(): void {
  const setupStart = process.hrtime.bigint();
  const lists: MeshObject[][] = [cluster()];
  const generation = new Map<number, number>();
  // Change 1 warms both paths up (and gives the incremental path its first kept state).
  for (let k = 1; k <= REPEAT + 1; k++) lists.push(changed(lists[k - 1] as MeshObject[], generation, k));
  const setupMs = ms(setupStart);

  // The path before: everything built and stringified again.
  const full: Step[] = [];
  const fullBytes: Uint8Array[] = [];
  let before: ViewEntries = viewEntries(buildClusterState(lists[0] as MeshObject[], { trustDomain: TD }));
  for (let k = 1; k < lists.length; k++) {
    const objects = lists[k] as MeshObject[];
    const t0 = process.hrtime.bigint();
    inputDigest(objects, TD);
    const digest = ms(t0);
    const t1 = process.hrtime.bigint();
    const state = buildClusterState(objects, { trustDomain: TD });
    const build = ms(t1);
    const t2 = process.hrtime.bigint();
    const entries = viewEntries(state);
    fullBytes.push(encodeDelta(diffEntries(before, entries, `v${k - 1}`, `v${k}`)).bytes);
    const delta = ms(t2);
    before = entries;
    if (k > 1) full.push({ digest, build, delta, total: ms(t0) });
  }
  before = undefined as unknown as ViewEntries;

  // The path now: the store's updater and the history's kept texts.
  const heap = { objectsMB: heapMB() };
  const updater = new ClusterStateUpdater(TD, { digest: objectDigest });
  const history = new ViewHistory();
  const firstStart = process.hrtime.bigint();
  let previous: PublishedState = { version: 'v0', state: updater.build(lists[0] as MeshObject[]), publishedAt: 0 };
  history.remember(previous);
  const firstBuildMs = ms(firstStart);
  const afterState = heapMB();
  const incremental: Step[] = [];
  for (let k = 1; k < lists.length; k++) {
    const objects = lists[k] as MeshObject[];
    const t0 = process.hrtime.bigint();
    if (updater.unchanged(objects)) throw new Error(`change ${k} was taken for no change`);
    const digest = ms(t0);
    const t1 = process.hrtime.bigint();
    const state = updater.build(objects);
    const build = ms(t1);
    if (updater.lastBuild !== 'update') throw new Error(`change ${k} took the full build`);
    const t2 = process.hrtime.bigint();
    const published: PublishedState = { version: `v${k}`, state, publishedAt: k };
    const encoded = history.deltaTo(previous.version, published);
    const delta = ms(t2);
    if (encoded === undefined) throw new Error(`no delta for change ${k}`);
    deepStrictEqual(decodeDelta(encoded.encoding, encoded.bytes), decodeDelta(encoded.encoding, fullBytes[k - 1] as Uint8Array), `change ${k}: the same delta on both paths`);
    previous = published;
    if (k > 1) incremental.push({ digest, build, delta, total: ms(t0) });
  }
  const atEnd = heapMB();
  const memory = process.memoryUsage();

  const summary = (steps: readonly Step[]): Record<string, unknown> => ({
    changeCheckMs: stats(steps.map((s) => s.digest)),
    buildMs: stats(steps.map((s) => s.build)),
    deltaMs: stats(steps.map((s) => s.delta)),
    totalMs: stats(steps.map((s) => s.total)),
  });
  console.log(JSON.stringify({
    machine: { cores: cpus().length, kernel: release(), node: process.version, loadavg: loadavg().map((l) => Number(l.toFixed(2))) },
    scale: { agents: AGENTS, pods: PODS, services: SERVICES, objects: (lists[0] as MeshObject[]).length, changesTimed: REPEAT },
    change: 'one pod moves to the next Service (and namespace), as controller-scale changes; the same delta bytes on both paths (checked)',
    setupMs: Math.round(setupMs),
    full: summary(full),
    incremental: { firstBuildMs: Math.round(firstBuildMs), ...summary(incremental) },
    memory: {
      rssMB: Math.round(memory.rss / 2 ** 20),
      // With --expose-gc: heap after a full collection, at each stage of the incremental path.
      heapUsedMB: { objects: heap.objectsMB, plusFirstState: afterState, atEnd },
      gcForced: global.gc !== undefined,
    },
  }, null, 2));
}

main();
