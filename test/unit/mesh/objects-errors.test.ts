/**
 * Bad input: every problem is reported at once, each line naming the file, the line and
 * document, the object, the field path and the bad value.
 */
import t from 'tap';
import { isMeshletError, type MeshletError } from '../../../src/mesh/errors.js';
import { objectsFromValue, parseObjects } from '../../../src/mesh/objects/parse.js';
import { thrown } from './fixture.js';

/** Parses `text`, expecting a MeshletError; returns it. */
function parseError(text: string, file = 'config/pods.yaml'): MeshletError {
  const err = thrown(() => parseObjects(text, file));
  if (!isMeshletError(err)) throw new Error(`expected a MeshletError, got ${String(err)}`);
  return err;
}

const POD = (spec: string, extra = ''): string => `apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: demo
spec:
${spec}
${extra}`;

t.test('malformed YAML names the file and the line', async (t) => {
  const err = parseError('apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n  namespace: x\n');
  t.equal(err.code, 'MESHLET_ERR_YAML_PARSE');
  t.match(err.message, /^config\/pods\.yaml:5:\d+ \(document 1\): YAML syntax error: /);
  t.equal(err.details.length, err.message.split('\n').length, 'one detail per problem');
  const dup = parseError('a: 1\na: 2\n');
  t.match(dup.message, /config\/pods\.yaml:2:1 \(document 1\): YAML syntax error: Map keys must be unique/);
});

t.test('a syntax error in one document does not hide content problems in another', async (t) => {
  const err = parseError(`${POD('  nodname: node-a')}\n---\nkey: [unclosed\n`);
  t.equal(err.code, 'MESHLET_ERR_YAML_PARSE', 'syntax wins the code');
  t.equal(err.details.length, 2);
  t.match(err.details[0], /spec\.nodname: unknown field/);
  t.match(err.details[1], /\(document 2\): YAML syntax error/);
});

t.test('one problem reads on its own', async (t) => {
  const err = parseError(POD('  nodname: node-a'));
  t.equal(err.code, 'MESHLET_ERR_OBJECT_INVALID');
  t.equal(err.message, 'config/pods.yaml:7 (document 1): Pod demo/client: spec.nodname: unknown field (did you mean nodeName?)');
  t.same(err.details, [err.message]);
});

t.test('each kind of bad field gives a clear line', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['unknown field, no close match', POD('  nodeName: a\n  frobnicate: true'), /:8 \(document 1\): Pod demo\/client: spec\.frobnicate: unknown field$/],
    ['wrong type', POD('  hostNetwork: "yes"'), /Pod demo\/client: spec\.hostNetwork: must be true or false, got "yes"$/],
    ['wrong type of a section', POD('  containers: web'), /spec\.containers: must be a list, got "web"$/],
    ['bad IP', POD('  nodeName: a', 'status:\n  podIP: 10.0.0.300'), /:9 \(document 1\): Pod demo\/client: status\.podIP: must be an IPv4 or IPv6 address, got "10\.0\.0\.300"$/],
    ['bad port', POD('  containers:\n    - name: a\n      ports:\n        - containerPort: 70000'), /spec\.containers\[0\]\.ports\[0\]\.containerPort: must be a port number 1\.\.65535, got 70000$/],
    ['missing port', POD('  containers:\n    - name: a\n      ports:\n        - name: http'), /spec\.containers\[0\]\.ports\[0\]\.containerPort: required$/],
    ['bad node name', POD('  nodeName: Node_A'), /spec\.nodeName: must be a DNS-1123 subdomain .*got "Node_A"$/],
    ['label value not a string', `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n  labels:\n    version: 1\n`, /Namespace demo: metadata\.labels\.version: label values must be strings \(quote it\), got 1$/],
    ['bad label key', `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n  labels:\n    "a b": x\n`, /metadata\.labels\.a b: invalid label key/],
    ['bad namespace name', `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: Demo\n`, /Namespace Demo: metadata\.name: must be a DNS-1123 label/],
    ['service name must start with a letter', `apiVersion: v1\nkind: Service\nmetadata:\n  name: 1web\n`, /Service default\/1web: metadata\.name: must be a DNS-1035 label/],
    ['missing name', `apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: demo\n`, /Pod demo\/\(no name\): metadata\.name: required$/],
    ['missing metadata', `apiVersion: v1\nkind: Node\n`, /Node \(no name\): metadata: required$/],
    ['namespace on a cluster-scoped kind', `apiVersion: v1\nkind: Node\nmetadata:\n  name: n\n  namespace: x\n`, /Node n: metadata\.namespace: not allowed: Node is cluster-scoped$/],
    ['unknown kind', `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n`, /:2 \(document 1\): kind: unknown kind "Deployment" \(apiVersion "apps\/v1"\); meshlet reads v1 Namespace, Node, Pod, Service/],
    ['misspelt kind', `apiVersion: v1\nkind: Sevice\n`, /kind: unknown kind "Sevice" \(apiVersion "v1"\); did you mean Service\?$/],
    ['known kind, wrong apiVersion', `apiVersion: meshlet.io/v1\nkind: Workload\n`, /apiVersion: Workload must have apiVersion meshlet\.io\/v1alpha1, got "meshlet\.io\/v1"$/],
    ['missing kind', `apiVersion: v1\nmetadata: {}\n`, /\(document 1\): kind: required$/],
    ['not an object', `- a\n- b\n`, /a document must be a mapping \(a Kubernetes object\), got a list$/],
  ];
  for (const [name, text, match] of cases) {
    const err = parseError(text);
    t.equal(err.code, 'MESHLET_ERR_OBJECT_INVALID', `${name}: code`);
    t.equal(err.details.length, 1, `${name}: one problem`);
    t.match(err.message, match, `${name}: ${err.message}`);
  }
});

t.test('Service problems', async (t) => {
  const err = parseError(`apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  clusterIP: 10.96.0.300
  clusterIPs: [10.96.0.10]
  selector:
    app: web
  ports:
    - port: 80
      targetPort: "8080"
    - name: admin
      port: 0
    - name: admin
      port: 81
      targetPort: Not_A_Name
      protocl: TCP
    - name: dup
      port: 81
`);
  const lines = err.details.map((d) => d.replace(/^config\/pods\.yaml:\d+ \(document 1\): Service demo\/web: /, ''));
  t.same(lines, [
    'spec.clusterIP: must be an IP address or "None" (headless), got "10.96.0.300"',
    'spec.clusterIPs[0]: must equal spec.clusterIP "10.96.0.300", got "10.96.0.10"',
    'spec.ports[0].name: required when a Service has several ports',
    'spec.ports[0].targetPort: must be a port number 1..65535 or a port name (IANA service name), got "8080" (write the number without quotes)',
    'spec.ports[1].port: must be a port number 1..65535, got 0',
    'spec.ports[2].protocl: unknown field (did you mean protocol?)',
    'spec.ports[2].targetPort: must be a port number 1..65535 or a port name (IANA service name), got "Not_A_Name"',
    'spec.ports[2].name: duplicate port name "admin"',
    'spec.ports[3].port: duplicate port 81/TCP',
  ]);
});

t.test('meshlet kinds are exact', async (t) => {
  const workload = parseError(`apiVersion: meshlet.io/v1alpha1
kind: Workload
metadata:
  name: vm
  namespace: demo
spec:
  adress: 10.0.0.1
  node: host-1
  ports:
    - name: pg
      port: 5432
      protocol: TCP
status: {}
`);
  const lines = workload.details.map((d) => d.replace(/^config\/pods\.yaml:(\d+) \(document 1\): /, '$1 '));
  t.same(lines, [
    '13 Workload demo/vm: status: unknown field',
    '7 Workload demo/vm: spec.adress: unknown field (did you mean address?)',
    '6 Workload demo/vm: spec.address: required',
    '12 Workload demo/vm: spec.ports[0].protocol: unknown field',
  ]);
  const tls = parseError(`apiVersion: meshlet.io/v1alpha1
kind: MeshTLS
metadata: {name: m, namespace: demo}
spec:
  mode: strict
  selector: {}
`);
  t.same(tls.details.map((d) => d.replace(/^config\/pods\.yaml:\d+ \(document 1\): MeshTLS demo\/m: /, '')), [
    'spec.mode: must be one of STRICT, PERMISSIVE, got "strict" (did you mean STRICT?)',
    'spec.selector.matchLabels: must name at least one label; omit spec.selector to cover the whole namespace',
  ]);
});

t.test('every problem of every document is collected, List items included', async (t) => {
  const err = parseError(`${POD('  nodname: a\n  hostNetwork: 1')}
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Node
    metadata: {name: n1}
    status:
      addresses:
        - {type: InternalIP, address: nope}
        - {type: Internal, address: 10.0.0.1}
  - apiVersion: v1
    kind: Namespace
    metadata: {name: ok}
  - apiVersion: v1
    kind: Namespace
    metadata: {name: Not-OK}
`);
  t.equal(err.details.length, 5);
  t.match(err.details[0], /^config\/pods\.yaml:7 \(document 1\): Pod demo\/client: spec\.nodname: unknown field/);
  t.match(err.details[1], /^config\/pods\.yaml:8 \(document 1\): Pod demo\/client: spec\.hostNetwork: must be true or false, got 1$/);
  t.match(err.details[2], /^config\/pods\.yaml:19 \(document 2\): Node n1: items\[0\]\.status\.addresses\[0\]\.address: must be an IPv4 or IPv6 address for InternalIP, got "nope"$/);
  t.match(err.details[3], /:20 \(document 2\): Node n1: items\[0\]\.status\.addresses\[1\]\.type: must be one of Hostname, InternalIP, ExternalIP, InternalDNS, ExternalDNS, got "Internal"$/);
  t.match(err.details[4], /:26 \(document 2\): Namespace Not-OK: items\[2\]\.metadata\.name: must be a DNS-1123 label/);
  t.match(err.message, /^5 problems in mesh objects:\n  - config\/pods\.yaml:7 /, 'the message lists them');
});

t.test('decoded values (the Kubernetes API source) are checked the same way', async (t) => {
  const { objects, problems } = objectsFromValue({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'demo' }, spec: { nodeName: 7 } }, { file: 'kubernetes', doc: 0 });
  t.same(objects, []);
  t.same(problems.map((p) => p.text), ['kubernetes (document 1): Pod demo/p: spec.nodeName: must be a string, got 7']);
});
