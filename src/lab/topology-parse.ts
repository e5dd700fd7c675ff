/**
 * Narrows an untrusted value (a parsed YAML topology file) into a {@link LabTopology}. Shape
 * only: names, references and uniqueness are checked by `validateLabTopology`, which this
 * calls last, so one call reports every problem it can find.
 *
 * @module
 */

import { MeshletError } from '../mesh/errors.js';
import type { TlsMode } from '../mesh/types.js';
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

type Obj = Record<string, unknown>;

/** Collects "path: problem" lines so the error lists them all at once. */
class Problems {
  readonly lines: string[] = [];
  add(path: string, problem: string): void {
    this.lines.push(`${path}: ${problem}`);
  }
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(o: Obj, path: string, allowed: readonly string[], p: Problems): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) p.add(`${path}.${key}`, `unknown field (allowed: ${allowed.join(', ')})`);
  }
}

function str(o: Obj, key: string, path: string, p: Problems): string {
  const v = o[key];
  if (typeof v === 'string') return v;
  p.add(`${path}.${key}`, v === undefined ? 'is required' : `must be a string, got ${JSON.stringify(v)}`);
  return '';
}

function optStr(o: Obj, key: string, path: string, p: Problems): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, path, p);
}

function labels(v: unknown, path: string, p: Problems): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) {
    p.add(path, `must be a map of strings, got ${JSON.stringify(v)}`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val === 'string') out[k] = val;
    else p.add(`${path}.${k}`, `label values must be strings, got ${JSON.stringify(val)}`);
  }
  return out;
}

function list(o: Obj, key: string, path: string, p: Problems, required: boolean): unknown[] {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) p.add(`${path}.${key}`, 'is required (a list)');
    return [];
  }
  if (Array.isArray(v)) return v;
  p.add(`${path}.${key}`, `must be a list, got ${JSON.stringify(v)}`);
  return [];
}

/** Runs `each` on every entry that is a map; reports the others. */
function entries<T>(items: unknown[], path: string, p: Problems, each: (o: Obj, at: string) => T): T[] {
  const out: T[] = [];
  items.forEach((item, i) => {
    const at = `${path}[${i}]`;
    if (isObj(item)) out.push(each(item, at));
    else p.add(at, `must be a map, got ${JSON.stringify(item)}`);
  });
  return out;
}

function parseNode(o: Obj, at: string, p: Problems): LabNode {
  checkKeys(o, at, ['name'], p);
  return { name: str(o, 'name', at, p) };
}

function parseNamespace(o: Obj, at: string, p: Problems): LabNamespace {
  checkKeys(o, at, ['name', 'labels'], p);
  return { name: str(o, 'name', at, p), labels: labels(o['labels'], `${at}.labels`, p) };
}

function parsePod(o: Obj, at: string, p: Problems): LabPod {
  checkKeys(o, at, ['name', 'namespace', 'node', 'serviceAccount', 'labels', 'meshDisabled'], p);
  const pod: { -readonly [K in keyof LabPod]: LabPod[K] } = {
    name: str(o, 'name', at, p),
    namespace: str(o, 'namespace', at, p),
    node: str(o, 'node', at, p),
    labels: labels(o['labels'], `${at}.labels`, p),
  };
  const sa = optStr(o, 'serviceAccount', at, p);
  if (sa !== undefined) pod.serviceAccount = sa;
  const md = o['meshDisabled'];
  if (typeof md === 'boolean') pod.meshDisabled = md;
  else if (md !== undefined) p.add(`${at}.meshDisabled`, `must be true or false, got ${JSON.stringify(md)}`);
  return pod;
}

function parsePort(o: Obj, at: string, p: Problems): LabServicePort {
  checkKeys(o, at, ['name', 'port', 'targetPort', 'appProtocol'], p);
  const port = o['port'];
  if (typeof port !== 'number') p.add(`${at}.port`, `must be a number, got ${JSON.stringify(port)}`);
  const out: { -readonly [K in keyof LabServicePort]: LabServicePort[K] } = {
    port: typeof port === 'number' ? port : 0,
  };
  const name = optStr(o, 'name', at, p);
  if (name !== undefined) out.name = name;
  const target = o['targetPort'];
  if (typeof target === 'number') out.targetPort = target;
  else if (target !== undefined) p.add(`${at}.targetPort`, `must be a port number, got ${JSON.stringify(target)}`);
  const app = optStr(o, 'appProtocol', at, p);
  if (app !== undefined) out.appProtocol = app;
  return out;
}

function parseService(o: Obj, at: string, p: Problems): LabService {
  checkKeys(o, at, ['name', 'namespace', 'selector', 'ports'], p);
  return {
    name: str(o, 'name', at, p),
    namespace: str(o, 'namespace', at, p),
    selector: labels(o['selector'], `${at}.selector`, p),
    ports: entries(list(o, 'ports', at, p, true), `${at}.ports`, p, (po, pat) => parsePort(po, pat, p)),
  };
}

function parseMeshTLS(o: Obj, at: string, p: Problems): LabMeshTLS {
  checkKeys(o, at, ['name', 'namespace', 'mode', 'selector'], p);
  const mode = str(o, 'mode', at, p);
  if (mode !== '' && mode !== 'STRICT' && mode !== 'PERMISSIVE') {
    p.add(`${at}.mode`, `must be STRICT or PERMISSIVE, got ${JSON.stringify(mode)}`);
  }
  const out: { -readonly [K in keyof LabMeshTLS]: LabMeshTLS[K] } = {
    name: str(o, 'name', at, p),
    namespace: str(o, 'namespace', at, p),
    mode: mode as TlsMode,
  };
  if (o['selector'] !== undefined) out.selector = labels(o['selector'], `${at}.selector`, p);
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
  if (!isObj(value)) {
    throw new MeshletError('MESHLET_ERR_LAB', `${source}: a lab topology must be a map, got ${JSON.stringify(value)}`);
  }
  checkKeys(value, 'topology', ['name', 'nodes', 'namespaces', 'pods', 'services', 'meshTLS'], p);
  const topology: LabTopology = {
    name: str(value, 'name', 'topology', p),
    nodes: entries(list(value, 'nodes', 'topology', p, true), 'nodes', p, (o, at) => parseNode(o, at, p)),
    namespaces: entries(list(value, 'namespaces', 'topology', p, false), 'namespaces', p, (o, at) =>
      parseNamespace(o, at, p),
    ),
    pods: entries(list(value, 'pods', 'topology', p, false), 'pods', p, (o, at) => parsePod(o, at, p)),
    services: entries(list(value, 'services', 'topology', p, false), 'services', p, (o, at) => parseService(o, at, p)),
    meshTLS: entries(list(value, 'meshTLS', 'topology', p, false), 'meshTLS', p, (o, at) => parseMeshTLS(o, at, p)),
  };
  if (p.lines.length > 0) {
    throw new MeshletError('MESHLET_ERR_LAB', `${source}: invalid lab topology:\n  ${p.lines.join('\n  ')}`, {
      details: p.lines,
    });
  }
  validateLabTopology(topology, source);
  return topology;
}
