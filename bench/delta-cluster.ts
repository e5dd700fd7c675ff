/**
 * The cluster `bench/controller-scale.ts` builds (same nodes, namespaces, Services and pods and
 * the same address plan), in one process, for the benches that measure a one-pod change without
 * sockets (`delta-size.ts`, `agent-tables.ts`). Pod `p` runs on node `floor(p / perNode)` and
 * backs Service `p mod services`; a `moved` pod sits one Service further (and so in another
 * namespace: a new uid), which is controller-scale's change.
 */
import { stringify } from 'yaml';
import { buildClusterState, type ClusterState } from '../src/mesh/cluster-state.js';
import { parseObjects } from '../src/mesh/objects/parse.js';
import { addressPlan } from './controller-scale/address-plan.js';

/** The scale of the cluster. */
export interface ClusterScale {
  readonly agents: number;
  readonly pods: number;
  readonly services: number;
}

/** Namespaces the Services and pods are spread over. */
const NAMESPACES = 10;

/** The name of node `i` (0-based): `node1` first. */
export const nodeName = (i: number): string => `node${i + 1}`;

/** The objects of controller-scale's registry, built into a cluster state; `moved` pods sit one Service further. */
export function clusterState(scale: ClusterScale, moved: ReadonlySet<number>): ClusterState {
  const plan = addressPlan(scale);
  const docs: unknown[] = [];
  for (let n = 0; n < NAMESPACES; n++) docs.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${n}`, labels: { 'meshlet.io/mesh': 'enabled' } } });
  for (let i = 0; i < scale.agents; i++) docs.push({ apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName(i) }, status: { addresses: [{ type: 'InternalIP', address: plan.node(i) }] } });
  for (let s = 0; s < scale.services; s++) {
    docs.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc${s}`, namespace: `ns${s % NAMESPACES}` },
      spec: { clusterIP: plan.service(s), selector: { app: `svc${s}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
  }
  const perNode = Math.ceil(scale.pods / scale.agents);
  for (let p = 0; p < scale.pods; p++) {
    const n = Math.floor(p / perNode);
    const svc = (p + (moved.has(p) ? 1 : 0)) % scale.services;
    docs.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `pod${p}`, namespace: `ns${svc % NAMESPACES}`, labels: { app: `svc${svc}` } },
      spec: { nodeName: nodeName(n), serviceAccountName: `sa${svc}`, containers: [{ name: 'app', image: 'bench' }] },
      status: { podIP: plan.pod(p), podIPs: [{ ip: plan.pod(p) }] },
    });
  }
  return buildClusterState(parseObjects(docs.map((d) => stringify(d)).join('---\n'), 'delta-size'));
}

/** Median and minimum of `repeat` runs of `fn`, in ms (2 decimals), and the last run's result. */
export function timed<T>(repeat: number, fn: () => T): { result: T; p50: number; min: number } {
  return timedEach(repeat, () => undefined, fn);
}

/** {@link timed}, with `setup` run (untimed) before each run and its value given to `fn`. */
export function timedEach<S, T>(repeat: number, setup: () => S, fn: (s: S) => T): { result: T; p50: number; min: number } {
  const runs: number[] = [];
  let result: T | undefined;
  for (let i = 0; i < repeat; i++) {
    const s = setup();
    const start = process.hrtime.bigint();
    result = fn(s);
    runs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  runs.sort((a, b) => a - b);
  const round = (v: number): number => Number(v.toFixed(2));
  return { result: result as T, p50: round(runs[Math.floor(runs.length / 2)] ?? NaN), min: round(runs[0] ?? NaN) };
}
