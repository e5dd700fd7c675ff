/**
 * The built-in topology of `meshlet lab up` and the demo, and the reader of topology files.
 *
 * @module
 */

import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { MeshletError } from '../mesh/errors.js';
import { MESH_ENABLED, MESH_LABEL } from '../mesh/types.js';
import type { LabTopology } from './topology.js';
import { parseLabTopology } from './topology-parse.js';

/** Options of {@link defaultLabTopology}. */
export interface DefaultTopologyOptions {
  /** Lab name (default `demo`). */
  readonly name?: string;
  /** Node count, 1 or more (default 2): `node1`, `node2`, ... */
  readonly nodes?: number;
}

/**
 * N nodes; a meshed namespace `demo` with pod `client` (service account `client`) on node1 and
 * pod `server` (service account `server`, label `app: server`) on node2 (node1 when alone),
 * behind Service `demo/server` port 80 -> 8080; and a namespace `legacy`, not meshed, with pod
 * `legacy` on the last node.
 */
export function defaultLabTopology(opts: DefaultTopologyOptions = {}): LabTopology {
  const count = opts.nodes ?? 2;
  if (!Number.isInteger(count) || count < 1) {
    throw new MeshletError('MESHLET_ERR_LAB', `node count must be a positive integer, got ${JSON.stringify(opts.nodes)}`);
  }
  const nodes = Array.from({ length: count }, (_, i) => ({ name: `node${i + 1}` }));
  const last = `node${count}`;
  const serverNode = count >= 2 ? 'node2' : 'node1';
  return {
    name: opts.name ?? 'demo',
    nodes,
    namespaces: [
      { name: 'demo', labels: { [MESH_LABEL]: MESH_ENABLED } },
      { name: 'legacy', labels: {} },
    ],
    pods: [
      { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
      { name: 'server', namespace: 'demo', node: serverNode, serviceAccount: 'server', labels: { app: 'server' } },
      { name: 'legacy', namespace: 'legacy', node: last, labels: { app: 'legacy' } },
    ],
    services: [{ name: 'server', namespace: 'demo', selector: { app: 'server' }, ports: [{ name: 'tcp', port: 80, targetPort: 8080 }] }],
  };
}

/**
 * Reads a topology YAML file (the shape of {@link LabTopology}). `nameOverride` replaces the
 * file's `name` (which may then be left out). Throws `MESHLET_ERR_YAML_PARSE` or
 * `MESHLET_ERR_LAB` naming the file.
 */
export function readTopologyFile(path: string, nameOverride?: string): LabTopology {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_LAB', `cannot read topology file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let value: unknown;
  try {
    value = parse(text);
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_YAML_PARSE', `${path}: ${(err as Error).message}`, { cause: err });
  }
  if (nameOverride !== undefined && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    value = { ...value, name: nameOverride };
  }
  return parseLabTopology(value, path);
}
