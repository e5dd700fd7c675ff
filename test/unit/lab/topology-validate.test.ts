import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labTopologyProblems, parseLabTopology, readTopologyFile, validateLabTopology, type LabTopology } from '../../../src/lab/index.js';
import { isMeshletError, type MeshletError } from '../../../src/mesh/errors.js';

const good: LabTopology = {
  name: 'ok1',
  nodes: [{ name: 'n1' }, { name: 'n2' }],
  namespaces: [{ name: 'app', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'web', namespace: 'app', node: 'n1', labels: { app: 'web' } },
    { name: 'db', namespace: 'app', node: 'n2' },
  ],
  services: [{ name: 'web', namespace: 'app', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }],
  meshTLS: [{ name: 'm', namespace: 'app', mode: 'STRICT' }],
};

function errorOf(fn: () => unknown): MeshletError {
  try {
    fn();
  } catch (err) {
    if (isMeshletError(err, 'MESHLET_ERR_LAB')) return err;
    throw err;
  }
  throw new Error('expected a MESHLET_ERR_LAB error');
}

t.test('a good topology has no problems', async (t) => {
  t.same(labTopologyProblems(good), []);
  t.doesNotThrow(() => validateLabTopology(good));
});

const cases: [string, LabTopology, RegExp][] = [
  ['lab name with a dash', { ...good, name: 'my-lab' }, /lab name "my-lab" must match/],
  ['lab name too long', { ...good, name: 'abcdefghi' }, /lab name "abcdefghi"/],
  ['no nodes', { ...good, nodes: [], pods: [] }, /at least one node/],
  ['duplicate node', { ...good, nodes: [{ name: 'n1' }, { name: 'n1' }, { name: 'n2' }] }, /duplicate node "n1"/],
  ['node name too long for an interface', { ...good, nodes: [...good.nodes, { name: 'a-very-long-node' }] }, /node name "a-very-long-node" must be a DNS label .*15/],
  ['reserved node name', { ...good, nodes: [...good.nodes, { name: 'br0' }] }, /node name "br0" is reserved/],
  ['upper-case pod name', { ...good, pods: [{ name: 'Web', namespace: 'app', node: 'n1' }] }, /pod name "Web"/],
  ['duplicate pod across namespaces', {
    ...good,
    namespaces: [...good.namespaces, { name: 'other', labels: {} }],
    pods: [...good.pods, { name: 'web', namespace: 'other', node: 'n2' }],
  }, /duplicate pod .*"web"/],
  ['pod named like a node', { ...good, pods: [...good.pods, { name: 'n2', namespace: 'app', node: 'n1' }] }, /pod "n2" has the name of a node/],
  ['pod named fabric', { ...good, pods: [...good.pods, { name: 'fabric', namespace: 'app', node: 'n1' }] }, /pod name "fabric" is reserved/],
  ['pod on a missing node', { ...good, pods: [{ name: 'x', namespace: 'app', node: 'n9' }] }, /pod "x": node "n9" is not in nodes/],
  ['pod in a missing namespace', { ...good, pods: [{ name: 'x', namespace: 'nope', node: 'n1' }] }, /pod "x": namespace "nope" is not in namespaces/],
  ['bad service account', { ...good, pods: [{ name: 'x', namespace: 'app', node: 'n1', serviceAccount: 'Bad_SA' }] }, /serviceAccount name "Bad_SA"/],
  ['duplicate namespace', { ...good, namespaces: [...good.namespaces, { name: 'app', labels: {} }] }, /duplicate namespace "app"/],
  ['service without ports', { ...good, services: [{ name: 's', namespace: 'app', selector: {}, ports: [] }] }, /service app\/s: needs at least one port/],
  ['service port out of range', { ...good, services: [{ name: 's', namespace: 'app', selector: {}, ports: [{ port: 70000 }] }] }, /port 70000 must be an integer/],
  ['service targetPort out of range', { ...good, services: [{ name: 's', namespace: 'app', selector: {}, ports: [{ port: 80, targetPort: 0 }] }] }, /targetPort 0 must be/],
  ['duplicate service port', { ...good, services: [{ name: 's', namespace: 'app', selector: {}, ports: [{ port: 80 }, { port: 80 }] }] }, /duplicate service app\/s port "80"/],
  ['duplicate service', { ...good, services: [...good.services, ...good.services] }, /duplicate service "app\/web"/],
  ['service in a missing namespace', { ...good, services: [{ name: 's', namespace: 'nope', selector: {}, ports: [{ port: 1 }] }] }, /service nope\/s: namespace "nope"/],
  ['MeshTLS in a missing namespace', { ...good, meshTLS: [{ name: 'm', namespace: 'nope', mode: 'STRICT' }] }, /MeshTLS nope\/m: namespace "nope"/],
];

for (const [what, topology, pattern] of cases) {
  t.test(`invalid: ${what}`, async (t) => {
    const err = errorOf(() => validateLabTopology(topology, 'my.yaml'));
    t.match(err.message, pattern);
    t.match(err.message, /^my\.yaml: invalid lab topology/, 'names the source');
    t.ok(err.details.some((d) => pattern.test(d)), 'the problem is in details');
  });
}

t.test('every problem is reported at once', async (t) => {
  const bad: LabTopology = { ...good, name: 'BAD', pods: [{ name: 'x', namespace: 'nope', node: 'n9' }] };
  t.equal(labTopologyProblems(bad).length, 3);
});

t.test('parseLabTopology narrows untrusted input and lists every bad field', async (t) => {
  const normalized = { ...good, pods: good.pods.map((p) => ({ labels: {}, ...p })) };
  t.same(parseLabTopology(JSON.parse(JSON.stringify(good)) as unknown), normalized, 'a good value round-trips (absent labels become {})');
  const err = errorOf(() =>
    parseLabTopology(
      {
        name: 7,
        nodes: [{ name: 'n1', zone: 'a' }, 'n2'],
        pods: [{ name: 'p', namespace: 'app', node: 'n1', meshDisabled: 'yes', labels: { a: 1 } }],
        services: [{ name: 's', namespace: 'app', selector: {}, ports: [{ port: '80', targetPort: 'http' }] }],
        meshTLS: [{ name: 'm', namespace: 'app', mode: 'strict' }],
        extra: true,
      },
      'file.yaml',
    ),
  );
  for (const pattern of [
    /topology\.name: must be a string, got 7/,
    /nodes\[0\]\.zone: unknown field/,
    /nodes\[1\]: must be a map, got "n2"/,
    /pods\[0\]\.meshDisabled: must be true or false, got "yes"/,
    /pods\[0\]\.labels\.a: label values must be strings, got 1/,
    /services\[0\]\.ports\[0\]\.port: must be a number, got "80"/,
    /services\[0\]\.ports\[0\]\.targetPort: must be a port number, got "http"/,
    /meshTLS\[0\]\.mode: must be STRICT or PERMISSIVE, got "strict"/,
    /topology\.extra: unknown field/,
  ]) {
    t.ok(err.details.some((d) => pattern.test(d)), `reports ${pattern}`);
  }
  t.match(errorOf(() => parseLabTopology(['x'])).message, /must be a map/);
  t.match(errorOf(() => parseLabTopology({ name: 'x' })).message, /topology\.nodes: is required/);
});

t.test('readTopologyFile reads YAML, and --name overrides the file', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'lab.yaml');
  writeFileSync(
    file,
    ['name: fromfile', 'nodes:', '  - name: n1', 'namespaces:', '  - name: app', 'pods:', '  - {name: p1, namespace: app, node: n1}', ''].join('\n'),
  );
  const topo = readTopologyFile(file);
  t.equal(topo.name, 'fromfile');
  t.same(topo.namespaces, [{ name: 'app', labels: {} }]);
  t.same(topo.services, [], 'optional lists default to empty');
  t.equal(readTopologyFile(file, 'other').name, 'other');
  writeFileSync(file, 'nodes: [\n');
  let err: unknown;
  try {
    readTopologyFile(file);
  } catch (e) {
    err = e;
  }
  t.ok(isMeshletError(err, 'MESHLET_ERR_YAML_PARSE'), 'bad YAML is MESHLET_ERR_YAML_PARSE');
  t.match(errorOf(() => readTopologyFile(join(dir, 'missing.yaml'))).message, /cannot read topology file/);
});
