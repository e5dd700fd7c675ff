import t from 'tap';
import { parseLabTopology } from '../../../src/lab/index.js';
import { isMeshletError, type MeshletError } from '../../../src/mesh/errors.js';

function errorOf(fn: () => unknown): MeshletError {
  try {
    fn();
  } catch (err) {
    if (isMeshletError(err, 'MESHLET_ERR_LAB')) return err;
    throw err;
  }
  throw new Error('expected a MESHLET_ERR_LAB error');
}

t.test('a misspelt field gets a did-you-mean hint; a field far from any lists the allowed ones', async (t) => {
  const err = errorOf(() =>
    parseLabTopology(
      {
        name: 'lab',
        nodes: [{ name: 'n1', zone: 'a' }],
        pods: [{ name: 'p', namespace: 'app', node: 'n1', serviceAcount: 'sa' }],
        servces: [],
      },
      'lab.yaml',
    ),
  );
  t.same(err.details, [
    'topology.servces: unknown field (did you mean services?)',
    'nodes[0].zone: unknown field (allowed: name, labels)',
    'pods[0].serviceAcount: unknown field (did you mean serviceAccount?)',
  ]);
  t.equal(
    err.message,
    'lab.yaml: invalid lab topology:\n' +
      '  topology.servces: unknown field (did you mean services?)\n' +
      '  nodes[0].zone: unknown field (allowed: name, labels)\n' +
      '  pods[0].serviceAcount: unknown field (did you mean serviceAccount?)',
  );
});

t.test('missing and mistyped fields name their path and value', async (t) => {
  const err = errorOf(() => parseLabTopology({ nodes: [{ name: 3 }], services: [{ name: 's', namespace: 'a', ports: [{ port: 80 }, 'x'] }] }));
  t.same(err.details, [
    'topology.name: is required',
    'nodes[0].name: must be a string, got 3',
    'services[0].ports[1]: must be a map, got "x"',
  ]);
  t.match(errorOf(() => parseLabTopology({ name: 'x', nodes: 'n1' })).details, ['topology.nodes: must be a list, got "n1"']);
  t.equal(errorOf(() => parseLabTopology(['x'], 'f.yaml')).message, 'f.yaml: a lab topology must be a map, got a list');
});

t.test('a Service may carry annotations (strings only)', async (t) => {
  const topo = parseLabTopology({
    name: 'lab',
    nodes: [{ name: 'n1' }],
    namespaces: [{ name: 'app' }],
    services: [{ name: 's', namespace: 'app', selector: { app: 's' }, ports: [{ port: 5432 }], annotations: { 'meshlet.io/opaque-ports': '5432' } }],
  });
  t.same(topo.services[0]?.annotations, { 'meshlet.io/opaque-ports': '5432' });
  const err = errorOf(() =>
    parseLabTopology({ name: 'lab', nodes: [{ name: 'n1' }], namespaces: [{ name: 'app' }], services: [{ name: 's', namespace: 'app', ports: [{ port: 1 }], annotations: { a: 5 } }] }),
  );
  t.same(err.details, ['services[0].annotations.a: label values must be strings, got 5']);
});

t.test('a node may carry labels', async (t) => {
  const topo = parseLabTopology({ name: 'lab', nodes: [{ name: 'n1', labels: { 'topology.kubernetes.io/zone': 'a' } }] });
  t.same(topo.nodes[0], { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'a' } });
});
