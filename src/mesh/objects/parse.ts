/**
 * Parsing mesh objects: multi-document YAML text (or already-decoded values, e.g. from the
 * Kubernetes API) into the typed objects of `types.ts`. Every problem of every document is
 * collected before anything is thrown; a document with a problem yields no object.
 */
import { isAlias, isMap, isSeq, LineCounter, parseAllDocuments, visit, type Document } from 'yaml';
import { type ObjectProblem, problemsError, Reporter } from './report.js';
import { checkFields, optList } from '../validate/readers.js';
import { didYouMean, type FieldPath, type Fields, formatValue, isFields } from '../validate/values.js';
import { authorizationPolicyFrom, ISTIO_AUTHZ_API_VERSIONS } from './authorization-policy.js';
import { LIST_FIELDS } from './fields.js';
import { meshTlsFrom, MESHLET_API_VERSION, workloadFrom } from './meshlet.js';
import { namespaceFrom, nodeFrom } from './node.js';
import { podFrom } from './pod.js';
import { serviceFrom } from './service.js';
import { grpcRouteFrom, httpRouteFrom } from './route.js';
import { GATEWAY_API_V1BETA1, GATEWAY_API_VERSION } from './route-common.js';
import { telemetryFrom } from './telemetry.js';
import { trafficPolicyFrom } from './traffic-policy.js';
import type { MeshObject, SourceRef } from '../types.js';

/** Objects parsed from one source, and every problem found on the way. */
export interface ParseResult {
  readonly objects: readonly MeshObject[];
  readonly problems: readonly ObjectProblem[];
}

type Converter = (r: Reporter, obj: Fields, source: SourceRef) => MeshObject;

/**
 * Every kind meshlet reads, by kind, with its apiVersion (and `also`: older versions with the
 * same schema, read the same way).
 */
const KINDS: ReadonlyMap<string, { apiVersion: string; also?: readonly string[]; convert: Converter }> = new Map([
  ['Namespace', { apiVersion: 'v1', convert: namespaceFrom }],
  ['Node', { apiVersion: 'v1', convert: nodeFrom }],
  ['Pod', { apiVersion: 'v1', convert: podFrom }],
  ['Service', { apiVersion: 'v1', convert: serviceFrom }],
  ['Workload', { apiVersion: MESHLET_API_VERSION, convert: workloadFrom }],
  ['MeshTLS', { apiVersion: MESHLET_API_VERSION, convert: meshTlsFrom }],
  ['TrafficPolicy', { apiVersion: MESHLET_API_VERSION, convert: trafficPolicyFrom }],
  ['Telemetry', { apiVersion: MESHLET_API_VERSION, convert: telemetryFrom }],
  ['AuthorizationPolicy', { apiVersion: MESHLET_API_VERSION, also: ISTIO_AUTHZ_API_VERSIONS, convert: authorizationPolicyFrom }],
  ['HTTPRoute', { apiVersion: GATEWAY_API_VERSION, also: [GATEWAY_API_V1BETA1], convert: httpRouteFrom }],
  ['GRPCRoute', { apiVersion: GATEWAY_API_VERSION, convert: grpcRouteFrom }],
]);

const KNOWN_KINDS_TEXT =
  `meshlet reads v1 Namespace, Node, Pod, Service, List, ${MESHLET_API_VERSION} Workload, MeshTLS, TrafficPolicy, Telemetry, ` +
  `AuthorizationPolicy, ${GATEWAY_API_VERSION} HTTPRoute, GRPCRoute ` +
  `and ${ISTIO_AUTHZ_API_VERSIONS.join(' or ')} AuthorizationPolicy`;

/**
 * Parses multi-document YAML into mesh objects; throws one MeshletError listing every problem
 * (MESHLET_ERR_YAML_PARSE for syntax, MESHLET_ERR_OBJECT_INVALID for content).
 * @param file the name used in messages and in each object's `source`
 */
export function parseObjects(text: string, file: string): MeshObject[] {
  const { objects, problems } = collectObjects(text, file);
  if (problems.length > 0) throw problemsError(problems);
  return [...objects];
}

/** Like {@link parseObjects}, but returns the problems instead of throwing (to merge files). */
export function collectObjects(text: string, file: string): ParseResult {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: true });
  if (!Array.isArray(docs)) return { objects: [], problems: [] };
  const objects: MeshObject[] = [];
  const problems: ObjectProblem[] = [];
  docs.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) problems.push({ kind: 'syntax', text: syntaxLine(file, index, err) });
      return;
    }
    const decoded = decodeDocument(doc, lineCounter, file, index);
    if ('problem' in decoded) {
      problems.push(decoded.problem);
      return;
    }
    const value = decoded.value;
    if (value === null || value === undefined) return; // an empty document, or only comments
    const locate = (path: FieldPath): number | undefined => lineOf(doc, lineCounter, path);
    const r = new Reporter(file, index, locate);
    objects.push(...convertDocument(r, value, { file, doc: index }, true));
    problems.push(...r.problems);
  });
  return { objects, problems };
}

/**
 * Validates one decoded object (for sources without YAML text, such as the Kubernetes API).
 * A `v1 List` yields its items.
 */
export function objectsFromValue(value: unknown, source: SourceRef): ParseResult {
  const r = new Reporter(source.file, source.doc);
  const objects = convertDocument(r, value, source, true);
  return { objects, problems: r.problems };
}

/** Aliases one document may expand: more is a "billion laughs" attack, not configuration. */
const MAX_ALIAS_COUNT = 100;

/**
 * A parsed document as plain values, or the syntax problem that kept it from being one. The
 * yaml library throws untyped errors here (an alias to an anchor that does not exist, too many
 * aliases): each becomes a problem naming the file and line, never an exception.
 */
function decodeDocument(doc: Document, counter: LineCounter, file: string, index: number): { value: unknown } | { problem: ObjectProblem } {
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown };
  } catch (err) {
    const unresolved = firstUnresolvedAlias(doc);
    const offset = unresolved?.offset ?? rangeStart(doc.contents);
    const pos = offset === undefined ? undefined : counter.linePos(offset);
    const where = pos === undefined ? `${file} (document ${index + 1})` : `${file}:${pos.line}:${pos.col} (document ${index + 1})`;
    const why =
      unresolved === undefined
        ? (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? ''
        : `alias *${unresolved.source} refers to no anchor &${unresolved.source} before it`;
    return { problem: { kind: 'syntax', text: `${where}: YAML syntax error: ${why}` } };
  }
}

/**
 * The first alias of `doc` with no anchor of its name before it (name and offset), if any. One
 * pass in document order, the order the library resolves aliases in; linear, so a hostile file
 * full of aliases costs no more here than it did to parse.
 */
function firstUnresolvedAlias(doc: Document): { source: string; offset: number | undefined } | undefined {
  const anchors = new Set<string>();
  let found: { source: string; offset: number | undefined } | undefined;
  visit(doc, (_key, node) => {
    if (isAlias(node)) {
      if (anchors.has(node.source)) return undefined;
      found = { source: node.source, offset: rangeStart(node) };
      return visit.BREAK;
    }
    const anchor = (node as { anchor?: unknown } | null)?.anchor;
    if (typeof anchor === 'string') anchors.add(anchor);
    return undefined;
  });
  return found;
}

/** One YAML syntax error as a problem line with its line and column. */
function syntaxLine(file: string, doc: number, err: { message: string; linePos?: [{ line: number; col: number }, ...unknown[]] }): string {
  const pos = err.linePos?.[0];
  const where = pos === undefined ? `${file} (document ${doc + 1})` : `${file}:${pos.line}:${pos.col} (document ${doc + 1})`;
  const message = (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
  return `${where}: YAML syntax error: ${message}`;
}

/** Converts one document (or List item); returns no object when it had a problem. */
function convertDocument(r: Reporter, value: unknown, source: SourceRef, allowList: boolean): MeshObject[] {
  if (!isFields(value)) {
    r.report([], `a document must be a mapping (a Kubernetes object), got ${formatValue(value)}`);
    return [];
  }
  const apiVersion = value['apiVersion'];
  const kind = value['kind'];
  if (typeof kind !== 'string' || kind === '') {
    r.report(['kind'], kind === undefined ? 'required' : `must be a string, got ${formatValue(kind)}`);
    return [];
  }
  if (kind === 'List' && allowList && apiVersion === 'v1') return convertList(r, value, source);
  const entry = KINDS.get(kind);
  if (entry === undefined) {
    const hint = didYouMean(kind, [...KINDS.keys()]);
    const suggestion = hint === undefined ? KNOWN_KINDS_TEXT : `did you mean ${hint}?`;
    r.report(['kind'], `unknown kind ${formatValue(kind)} (apiVersion ${formatValue(apiVersion)}); ${suggestion}`);
    return [];
  }
  if (apiVersion !== entry.apiVersion && !(typeof apiVersion === 'string' && entry.also?.includes(apiVersion) === true)) {
    r.report(['apiVersion'], `${kind} must have apiVersion ${entry.apiVersion}, got ${formatValue(apiVersion)}`);
    return [];
  }
  const before = r.problems.length;
  const object = entry.convert(r, value, source);
  return r.problems.length === before ? [object] : [];
}

/** `v1 List` (kubectl output): every item is converted on its own. */
function convertList(r: Reporter, list: Fields, source: SourceRef): MeshObject[] {
  checkFields(r, list, [], LIST_FIELDS);
  const out: MeshObject[] = [];
  optList(r, list, 'items', []).forEach((item, i) => {
    out.push(...convertDocument(r.nested(['items', i]), item, source, false));
  });
  return out;
}

/**
 * The 1-based line of `path` in a YAML document: the line of the map key when the path ends on
 * a field (so `unknown field` points at the key), or of the deepest node that exists (so
 * `required` points at the mapping that lacks the field).
 */
function lineOf(doc: Document, counter: LineCounter, path: FieldPath): number | undefined {
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(seg));
      if (pair === undefined) break;
      offset = rangeStart(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      offset = rangeStart(node) ?? offset;
    } else {
      break;
    }
  }
  return offset === undefined ? undefined : counter.linePos(offset).line;
}

function keyText(key: unknown): string | undefined {
  if (key !== null && typeof key === 'object' && 'value' in key) return String(key.value);
  return typeof key === 'string' ? key : undefined;
}

function rangeStart(node: unknown): number | undefined {
  if (node === null || typeof node !== 'object' || !('range' in node)) return undefined;
  const range = node.range;
  return Array.isArray(range) && typeof range[0] === 'number' ? range[0] : undefined;
}
