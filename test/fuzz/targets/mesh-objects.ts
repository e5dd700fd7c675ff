/**
 * The YAML and Kubernetes-object parsers: `collectObjects`/`parseObjects` (the YAML registry's
 * and the static mode's parse path, `yaml-directory.ts`), `objectsFromValue` and
 * `convertKubeObject` (the Kubernetes API source), then what the controller does with what
 * they accept (`buildClusterState`, `computeSnapshot`). A tenant with write access to a
 * namespace writes these objects; a broken file must become a problem naming it, never an
 * exception that stops the controller.
 */
import fc from 'fast-check';
import { isIP } from 'node:net';
import { stringify } from 'yaml';
import { parseDigest } from '../../../src/controller/registry/yaml-file-cache.js';
import { convertKubeObject, slimKubeObject } from '../../../src/controller/registry/kube-objects.js';
import { KUBERNETES_RESOURCES, keyKindOf } from '../../../src/controller/registry/kube-resources.js';
import { buildClusterState } from '../../../src/mesh/cluster-state.js';
import { collectObjects, objectsFromValue, type ParseResult } from '../../../src/mesh/objects/parse.js';
import { problemsError } from '../../../src/mesh/objects/report.js';
import { computeSnapshot } from '../../../src/mesh/snapshot.js';
import type { MeshObject } from '../../../src/mesh/types.js';
import { textCodec, typedValueCodec } from '../corpus.js';
import { holds, noThrow, onlyMeshletError, same } from '../expect.js';
import { kubeListItems, meshDocuments, meshYamlFiles } from '../fixtures.js';
import { mutatedSeed, mutatedText, mutatedValue } from '../mutate.js';
import { property, type FuzzTarget } from '../fuzz-property.js';

const FILE = 'fuzz.yaml';
const KINDS = new Set(['Namespace', 'Node', 'Pod', 'Service', 'Workload', 'MeshTLS', 'TrafficPolicy', 'HTTPRoute', 'GRPCRoute', 'AuthorizationPolicy', 'Telemetry']);

/** YAML's own syntax and the words of the mesh kinds: mutations that reach the deep checks. */
const YAML_TOKENS = [
  '---\n', '...\n', '&a ', '*a', '*x', '<<: *a\n', '!!str ', '!!int ', '!!binary ', '!!set ', '!!omap ', '!custom ', '? ', ': ', '- ', '{', '}', '[', ']', ',', '"', "'",
  '|\n', '>-\n', '#', '\t', '\n', '  ', '%YAML 1.1\n', '%TAG ! tag:x,2000:\n', 'null', '~', 'true', 'yes', '0x1F', '0o17', '1e3', '.nan', '-.inf',
  'apiVersion: v1\n', 'kind: Pod\n', 'kind: List\nitems:\n', 'metadata:\n  name: x\n', 'namespace: demo\n', 'labels: {meshlet.io/mesh: enabled}\n',
  'podIP: 127.0.0.1\n', 'podIPs: [{ip: "::1"}]\n', 'clusterIP: None\n', 'port: 65536\n', 'targetPort: http\n', 'selector: {}\n', 'mode: STRICT\n',
  'address: 169.254.169.254\n', 'serviceAccount: meshlet-controller\n', 'namespace: meshlet-system\n', '__proto__: {}\n', 'hostNetwork: true\n',
  'apiVersion: gateway.networking.k8s.io/v1\n', 'kind: HTTPRoute\n', 'kind: GRPCRoute\n', 'kind: TrafficPolicy\n', 'parentRefs: [{group: "", kind: Service, name: web}]\n',
  'rules: [{matches: [{path: {type: RegularExpression, value: "/(a+)+$"}}]}]\n', 'backendRefs: [{name: web, port: 80, weight: 1000001}]\n', 'timeouts: {request: 99999h99999m}\n',
  'loadBalancer: {type: ConsistentHash, consistentHash: {type: Header, header: {name: x}}}\n', 'meshlet.io/opaque-ports: "1,2,,3"\n',
  'kind: AuthorizationPolicy\n', 'apiVersion: security.istio.io/v1\n', 'action: DENY\n', 'action: CUSTOM\n', 'rules: [{}]\n', 'principals: ["*/ns/*"]\n',
  'paths: ["/{**}/x", "/a/{*}"]\n', 'ipBlocks: ["198.18.0.0/33"]\n', 'when: [{key: "request.headers[x]", values: ["*"]}]\n', 'targetRefs: [{kind: Service, name: web}]\n',
];

function checkResult(r: ParseResult, file: string): void {
  for (const p of r.problems) {
    holds(p.kind === 'syntax' || p.kind === 'content' || p.kind === 'conflict', `problem kind ${String(p.kind)}`);
    holds(typeof p.text === 'string' && p.text.startsWith(file), `problem text does not name the file: ${JSON.stringify(p.text).slice(0, 200)}`);
  }
  for (const o of r.objects) checkObject(o, file);
}

/** What the rest of meshlet may assume of an object the parser accepted. */
function checkObject(o: MeshObject, file: string): void {
  holds(KINDS.has(o.kind), `object of kind ${String(o.kind)}`);
  holds(typeof o.name === 'string' && o.name !== '', `${o.kind} without a name`);
  holds(o.source.file === file, 'object source names another file');
  for (const [k, v] of Object.entries(o.labels)) holds(typeof v === 'string', `label ${k} is not a string`);
  if (o.kind !== 'Namespace' && o.kind !== 'Node') holds(typeof o.namespace === 'string' && o.namespace !== '', `${o.kind} ${o.name} without a namespace`);
  const addresses = o.kind === 'Pod' || o.kind === 'Node' ? o.addresses : o.kind === 'Workload' ? [o.address] : o.kind === 'Service' ? o.clusterIPs : [];
  for (const a of addresses) holds(isIP(a) !== 0, `${o.kind} ${o.name} has address ${JSON.stringify(a)}`);
  if (o.kind === 'Service') {
    for (const p of o.ports) holds(Number.isInteger(p.port) && p.port >= 1 && p.port <= 65535, `Service ${o.name} has port ${String(p.port)}`);
  }
}

/** What the controller does next with valid objects: build the state, compute each node's snapshot. */
function checkState(objects: readonly MeshObject[]): void {
  const state = onlyMeshletError(() => buildClusterState(objects), ['MESHLET_ERR_OBJECT_CONFLICT']);
  if (state === undefined) return;
  const nodes = new Set(['node-unknown', ...state.workloads.map((w) => w.node)]);
  for (const node of nodes) noThrow(() => computeSnapshot(state, node, 'v1'), `computeSnapshot(${node})`);
}

function checkText(text: string): void {
  const r = noThrow(() => collectObjects(text, FILE), 'collectObjects');
  checkResult(r, FILE);
  noThrow(() => parseDigest(r.objects, r.problems), 'parseDigest');
  if (r.problems.length > 0) {
    // What parseObjects throws (collectObjects + problemsError; not parsed twice, for speed).
    const err = noThrow(() => problemsError(r.problems), 'problemsError');
    const want = r.problems.some((p) => p.kind === 'syntax') ? 'MESHLET_ERR_YAML_PARSE' : 'MESHLET_ERR_OBJECT_INVALID';
    same(err.code, want, 'the error code of the problems');
    same(err.details, r.problems.map((p) => p.text), 'every problem in the details');
    return;
  }
  checkState(r.objects);
}

/** Objects without their source: what the YAML and the value path must agree on. */
function withoutSource(objects: readonly MeshObject[]): unknown[] {
  return objects.map(({ source: _source, ...rest }) => rest);
}

function checkValue(value: unknown): void {
  const r = noThrow(() => objectsFromValue(value, { file: FILE, doc: 0 }), 'objectsFromValue');
  checkResult(r, FILE);
  if (r.problems.length === 0) checkState(r.objects);
  // The same object written as YAML and read back must give the same objects.
  let text: string | undefined;
  try {
    text = stringify(value);
  } catch {
    return; // a value YAML cannot write (none of meshlet's business)
  }
  if (typeof text !== 'string') return;
  const viaText = noThrow(() => collectObjects(text, FILE), 'collectObjects');
  checkResult(viaText, FILE);
  same(withoutSource(viaText.objects), withoutSource(r.objects), 'objects read from the value and from its YAML');
}

/**
 * A value as JSON carries it: values reach `objectsFromValue` from the Kubernetes API (JSON),
 * and the YAML comparison needs values YAML can write (no `undefined`).
 */
function asJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value) ?? 'null') as unknown;
}

/** Keyed as the registry keys them: two groups' AuthorizationPolicy are two entries. */
const RESOURCE_BY_KIND = new Map(KUBERNETES_RESOURCES.map((r) => [keyKindOf(r), r]));

function checkKube([kind, raw]: readonly [string, unknown]): void {
  const resource = RESOURCE_BY_KIND.get(kind);
  if (resource === undefined) return;
  noThrow(() => slimKubeObject(resource, raw), 'slimKubeObject');
  const { key, result } = noThrow(() => convertKubeObject(resource, raw), 'convertKubeObject');
  holds(typeof key === 'string' && key.startsWith(`${keyKindOf(resource)}/`), `key ${key}`);
  checkResult(result, `kubernetes:${key}`);
  if (result.problems.length === 0) checkState(result.objects);
}

/** The YAML and Kubernetes-object parsers. */
export function meshObjectsTarget(): FuzzTarget {
  const files = meshYamlFiles();
  const texts = files.map((f) => f.text);
  const docs = meshDocuments();
  const kube = [
    ...kubeListItems().map(({ kind, raw }): [string, unknown] => [kind, raw]),
    ...docs.map((d): [string, unknown] => [String((d as { kind?: unknown }).kind), d]),
  ];
  const kinds = [...RESOURCE_BY_KIND.keys()];
  return {
    name: 'mesh-objects',
    description: 'YAML registry and Kubernetes objects (collectObjects, parseObjects, objectsFromValue, convertKubeObject, buildClusterState)',
    properties: [
      property({
        name: 'yaml-text',
        weight: 3,
        arbitrary: fc.oneof(fc.array(fc.constantFrom(...YAML_TOKENS), { maxLength: 30 }).map((t) => t.join('')), fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 80 })),
        check: checkText,
        codec: textCodec('.yaml'),
        seeds: () => ['apiVersion: v1\nkind: Namespace\nmetadata:\n  name: &x demo\n  labels: {meshlet.io/mesh: enabled}\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: *x\n'],
      }),
      property({ name: 'yaml-text-mutated', weight: 2, arbitrary: mutatedText(texts, YAML_TOKENS), check: checkText, codec: textCodec('.yaml'), seeds: () => texts }),
      property({ name: 'object-values-mutated', weight: 2, arbitrary: mutatedValue(docs).map(asJson), check: checkValue, codec: typedValueCodec<unknown>(), seeds: () => docs.slice(0, 4) }),
      property({
        name: 'kube-objects-mutated',
        weight: 2,
        // Mostly the object's own kind; sometimes another resource's (a watch on the wrong type).
        arbitrary: fc
          .tuple(mutatedSeed(kube.map(([, raw]) => raw)), fc.option(fc.constantFrom(...kinds), { freq: 8 }))
          .map(([m, other]): readonly [string, unknown] => [other ?? kube[m.seed]?.[0] ?? 'Pod', asJson(m.value)]),
        check: checkKube,
        codec: typedValueCodec<readonly [string, unknown]>(),
        seeds: () => kube.slice(0, 4),
      }),
    ],
  };
}
