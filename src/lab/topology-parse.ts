/**
 * Narrows an untrusted value (a parsed YAML topology file) into a {@link LabTopology}. Shape
 * only: names, references and uniqueness are checked by `validateLabTopology`, which this
 * calls last, so one call reports every problem it can find.
 *
 * @module
 */

import { MeshletError } from '../mesh/errors.js';
import type { TlsMode } from '../mesh/types.js';
import { Problems } from '../mesh/validate/problems.js';
import { checkFields, optBool, optList, optString, reqString, requireField } from '../mesh/validate/readers.js';
import { formatValue, isFields, type FieldPath, type Fields } from '../mesh/validate/values.js';
import type {
  LabMeshTLS,
  LabNamespace,
  LabNode,
  LabPod,
  LabService,
  LabServicePort,
  LabTopology,
} from './topology.js';
import { validateLabTopology } from './topology-validate.js';

/** A topology is written by hand and short: an unknown field lists the allowed ones. */
function checkKeys(o: Fields, at: FieldPath, allowed: readonly string[], p: Problems): void {
  checkFields(p, o, at, allowed, true);
}

function str(o: Fields, key: string, at: FieldPath, p: Problems): string {
  return reqString(p, o, key, at, 'is required') ?? '';
}

function labels(v: unknown, at: FieldPath, p: Problems): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isFields(v)) {
    p.report(at, `must be a map of strings, got ${formatValue(v)}`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val === 'string') out[k] = val;
    else p.report([...at, k], `label values must be strings, got ${formatValue(val)}`);
  }
  return out;
}

function list(o: Fields, key: string, at: FieldPath, p: Problems, required: boolean): readonly unknown[] {
  if (required && !requireField(p, o, key, at, 'is required (a list)')) return [];
  return optList(p, o, key, at);
}

/** Runs `each` on every entry that is a map; reports the others. */
function entries<T>(items: readonly unknown[], at: FieldPath, p: Problems, each: (o: Fields, at: FieldPath) => T): T[] {
  const out: T[] = [];
  items.forEach((item, i) => {
    if (isFields(item)) out.push(each(item, [...at, i]));
    else p.report([...at, i], `must be a map, got ${formatValue(item)}`);
  });
  return out;
}

function parseNode(o: Fields, at: FieldPath, p: Problems): LabNode {
  checkKeys(o, at, ['name', 'labels'], p);
  return { name: str(o, 'name', at, p), ...(o['labels'] === undefined ? {} : { labels: labels(o['labels'], [...at, 'labels'], p) }) };
}

function parseNamespace(o: Fields, at: FieldPath, p: Problems): LabNamespace {
  checkKeys(o, at, ['name', 'labels'], p);
  return { name: str(o, 'name', at, p), labels: labels(o['labels'], [...at, 'labels'], p) };
}

function parsePod(o: Fields, at: FieldPath, p: Problems): LabPod {
  checkKeys(o, at, ['name', 'namespace', 'node', 'serviceAccount', 'labels', 'annotations', 'meshDisabled'], p);
  const pod: { -readonly [K in keyof LabPod]: LabPod[K] } = {
    name: str(o, 'name', at, p),
    namespace: str(o, 'namespace', at, p),
    node: str(o, 'node', at, p),
    labels: labels(o['labels'], [...at, 'labels'], p),
  };
  const sa = optString(p, o, 'serviceAccount', at);
  if (sa !== undefined) pod.serviceAccount = sa;
  if (o['annotations'] !== undefined) pod.annotations = labels(o['annotations'], [...at, 'annotations'], p);
  const md = optBool(p, o, 'meshDisabled', at);
  if (md !== undefined) pod.meshDisabled = md;
  return pod;
}

function parsePort(o: Fields, at: FieldPath, p: Problems): LabServicePort {
  checkKeys(o, at, ['name', 'port', 'targetPort', 'appProtocol'], p);
  // Numbers only: the range is checked by validateLabTopology, with the other names.
  const port = o['port'];
  if (typeof port !== 'number') p.report([...at, 'port'], `must be a number, got ${formatValue(port)}`);
  const out: { -readonly [K in keyof LabServicePort]: LabServicePort[K] } = {
    port: typeof port === 'number' ? port : 0,
  };
  const name = optString(p, o, 'name', at);
  if (name !== undefined) out.name = name;
  const target = o['targetPort'];
  if (typeof target === 'number') out.targetPort = target;
  else if (target !== undefined) p.report([...at, 'targetPort'], `must be a port number, got ${formatValue(target)}`);
  const app = optString(p, o, 'appProtocol', at);
  if (app !== undefined) out.appProtocol = app;
  return out;
}

function parseService(o: Fields, at: FieldPath, p: Problems): LabService {
  checkKeys(o, at, ['name', 'namespace', 'selector', 'ports', 'annotations'], p);
  return {
    name: str(o, 'name', at, p),
    namespace: str(o, 'namespace', at, p),
    selector: labels(o['selector'], [...at, 'selector'], p),
    ports: entries(list(o, 'ports', at, p, true), [...at, 'ports'], p, (po, pat) => parsePort(po, pat, p)),
    ...(o['annotations'] === undefined ? {} : { annotations: labels(o['annotations'], [...at, 'annotations'], p) }),
  };
}

function parseMeshTLS(o: Fields, at: FieldPath, p: Problems): LabMeshTLS {
  checkKeys(o, at, ['name', 'namespace', 'mode', 'selector'], p);
  const mode = str(o, 'mode', at, p);
  if (mode !== '' && mode !== 'STRICT' && mode !== 'PERMISSIVE') {
    p.report([...at, 'mode'], `must be STRICT or PERMISSIVE, got ${formatValue(mode)}`);
  }
  const out: { -readonly [K in keyof LabMeshTLS]: LabMeshTLS[K] } = {
    name: str(o, 'name', at, p),
    namespace: str(o, 'namespace', at, p),
    mode: mode as TlsMode,
  };
  if (o['selector'] !== undefined) out.selector = labels(o['selector'], [...at, 'selector'], p);
  return out;
}

/**
 * Turns an untrusted value into a valid {@link LabTopology}, or throws one
 * `MESHLET_ERR_LAB` error whose `details` list every bad field with its value.
 *
 * @param value - usually the result of parsing a topology YAML file
 * @param source - named in the error message (a file path)
 */
export function parseLabTopology(value: unknown, source = 'topology'): LabTopology {
  const p = new Problems();
  if (!isFields(value)) {
    throw new MeshletError('MESHLET_ERR_LAB', `${source}: a lab topology must be a map, got ${formatValue(value)}`);
  }
  const top = ['topology'];
  checkKeys(value, top, ['name', 'nodes', 'namespaces', 'pods', 'services', 'meshTLS'], p);
  const topology: LabTopology = {
    name: str(value, 'name', top, p),
    nodes: entries(list(value, 'nodes', top, p, true), ['nodes'], p, (o, at) => parseNode(o, at, p)),
    namespaces: entries(list(value, 'namespaces', top, p, false), ['namespaces'], p, (o, at) =>
      parseNamespace(o, at, p),
    ),
    pods: entries(list(value, 'pods', top, p, false), ['pods'], p, (o, at) => parsePod(o, at, p)),
    services: entries(list(value, 'services', top, p, false), ['services'], p, (o, at) => parseService(o, at, p)),
    meshTLS: entries(list(value, 'meshTLS', top, p, false), ['meshTLS'], p, (o, at) => parseMeshTLS(o, at, p)),
  };
  p.throwIfAny('MESHLET_ERR_LAB', `${source}: invalid lab topology`);
  validateLabTopology(topology, source);
  return topology;
}
