/**
 * The controller-scale bench's registry: one file per node (its pods), plus `cluster.yaml` with
 * the namespaces, nodes and Services; every address from the {@link AddressPlan}. A change moves
 * one pod to the next Service (and with it to another namespace).
 *
 * @module
 */

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { buildClusterState } from '../../src/mesh/cluster-state.js';
import type { ClusterState } from '../../src/mesh/cluster-types.js';
import { parseObjects } from '../../src/mesh/objects/parse.js';
import type { AddressPlan, ClusterSize } from './address-plan.js';

const NAMESPACES = 10;

/** Node `i`'s name. */
export const nodeName = (i: number): string => `node${i + 1}`;

/** The simulated cluster's files; `generation` counts the changes made to each pod. */
export class RegistryFiles {
  readonly perNode: number;

  constructor(
    readonly dir: string,
    private readonly size: ClusterSize,
    private readonly plan: AddressPlan,
    readonly generation = new Map<number, number>(),
  ) {
    this.perNode = Math.ceil(size.pods / size.agents);
  }

  /** Writes every file. */
  writeAll(): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, 'cluster.yaml'), this.clusterText());
    for (let n = 0; n < this.size.agents; n++) this.writeNode(n);
  }

  /** Moves pod `p` to the next Service and rewrites its node's file; returns the node. */
  change(p: number): number {
    this.generation.set(p, (this.generation.get(p) ?? 0) + 1);
    const n = Math.floor(p / this.perNode);
    this.writeNode(n);
    return n;
  }

  /** The state the controller builds from the files (parsed as it parses), with `generation`. */
  state(generation: ReadonlyMap<number, number> = this.generation): ClusterState {
    const objects = parseObjects(readFileSync(join(this.dir, 'cluster.yaml'), 'utf8'), 'cluster.yaml');
    for (let n = 0; n < this.size.agents; n++) objects.push(...parseObjects(this.nodeText(n, generation), `pods-${nodeName(n)}.yaml`));
    return buildClusterState(objects);
  }

  private clusterText(): string {
    const namespaces = Array.from({ length: NAMESPACES }, (_, n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${n}`, labels: { 'meshlet.io/mesh': 'enabled' } } }));
    const nodes = Array.from({ length: this.size.agents }, (_, i) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName(i) }, status: { addresses: [{ type: 'InternalIP', address: this.plan.node(i) }] } }));
    const services = Array.from({ length: this.size.services }, (_, s) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc${s}`, namespace: `ns${s % NAMESPACES}` },
      spec: { clusterIP: this.plan.service(s), selector: { app: `svc${s}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    }));
    return [...namespaces, ...nodes, ...services].map((o) => stringify(o)).join('---\n');
  }

  private nodeText(n: number, generation: ReadonlyMap<number, number>): string {
    const pods = [];
    for (let p = n * this.perNode; p < Math.min(this.size.pods, (n + 1) * this.perNode); p++) {
      const svc = (p + (generation.get(p) ?? 0)) % this.size.services;
      const ip = this.plan.pod(p);
      pods.push({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `pod${p}`, namespace: `ns${svc % NAMESPACES}`, labels: { app: `svc${svc}` } },
        spec: { nodeName: nodeName(n), serviceAccountName: `sa${svc}`, containers: [{ name: 'app', image: 'bench' }] },
        status: { podIP: ip, podIPs: [{ ip }] },
      });
    }
    return pods.map((o) => stringify(o)).join('---\n');
  }

  private writeNode(n: number): void {
    // Atomic replace, as an operator's tooling would.
    const tmp = join(this.dir, `.pods-${n}.tmp`);
    writeFileSync(tmp, this.nodeText(n, this.generation));
    renameSync(tmp, join(this.dir, `pods-${nodeName(n)}.yaml`));
  }
}
