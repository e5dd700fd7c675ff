/**
 * Cluster state: cross-object conflicts, mesh membership and TLS-mode precedence.
 */
import t from 'tap';
import { buildClusterState } from '../../../src/mesh/cluster-state.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import type { MeshObject } from '../../../src/mesh/types.js';
import { thrown, twoNodeObjects } from './fixture.js';

const NODES = `
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 198.18.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: 198.18.0.2}]}
`;

function ns(name: string, label?: string): string {
  const labels = label === undefined ? '' : `\n  labels: {meshlet.io/mesh: ${label}}`;
  return `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}${labels}\n`;
}

function pod(name: string, opts: { ns?: string; node?: string; ip?: string; labels?: string; hostNetwork?: boolean; sa?: string } = {}): string {
  const lines = [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    `  name: ${name}`,
    `  namespace: ${opts.ns ?? 'demo'}`,
    `  labels: {${opts.labels ?? `app: ${name}`}}`,
    'spec:',
    opts.node === '' ? '  containers: []' : `  nodeName: ${opts.node ?? 'node-a'}`,
    ...(opts.sa === undefined ? [] : [`  serviceAccountName: ${opts.sa}`]),
    ...(opts.hostNetwork === true ? ['  hostNetwork: true'] : []),
    ...(opts.ip === '' ? [] : ['status:', `  podIP: ${opts.ip ?? '198.18.1.10'}`]),
  ];
  return `${lines.join('\n')}\n`;
}

function tls(name: string, namespace: string, mode: string, matchLabels?: string): string {
  const selector = matchLabels === undefined ? '' : `\n  selector: {matchLabels: {${matchLabels}}}`;
  return `apiVersion: meshlet.io/v1alpha1\nkind: MeshTLS\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec:\n  mode: ${mode}${selector}\n`;
}

/** Parses several YAML files given as `[file, text]`. */
function objects(...files: [string, string][]): MeshObject[] {
  return files.flatMap(([file, text]) => parseObjects(text, file));
}

function conflictDetails(objs: MeshObject[]): readonly string[] {
  const err = thrown(() => buildClusterState(objs));
  if (!isMeshletError(err, 'MESHLET_ERR_OBJECT_CONFLICT')) throw new Error(`expected a conflict, got ${String(err)}`);
  return err.details;
}

t.test('the two-node fixture builds', async (t) => {
  const state = buildClusterState(twoNodeObjects());
  t.equal(state.trustDomain, 'cluster.local');
  t.same([...state.nodes.keys()], ['node-a', 'node-b']);
  t.same(state.workloads.map((w) => w.uid), [
    'Pod/demo/client',
    'Pod/demo/web-1',
    'Pod/demo/web-2',
    'Pod/demo/web-legacy',
    'Pod/shop/cart',
    'Workload/demo/vm-db',
  ], 'meshed workloads, sorted by uid');
  t.ok(state.workloads.length > 0, 'the state has workloads');
  t.ok(Object.isFrozen(state), 'the state is frozen');
  t.ok(Object.isFrozen(state.workloads[0]), 'its workloads are frozen');
});

t.test('conflicts name both objects and their files, all at once', async (t) => {
  const details = conflictDetails(
    objects(
      ['nodes.yaml', NODES],
      ['ns.yaml', ns('demo', 'enabled')],
      ['a.yaml', `${pod('a', { ip: '198.18.1.5' })}---\n${pod('b', { ip: '198.18.1.6' })}`],
      ['b.yaml', `${pod('a', { ip: '198.18.1.7' })}---\n${pod('c', { ip: '198.18.1.6' })}`],
      ['svc.yaml', `apiVersion: v1\nkind: Service\nmetadata: {name: s1, namespace: demo}\nspec: {clusterIP: 198.19.0.1}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s2, namespace: other}\nspec: {clusterIP: 198.19.0.1}\n`],
    ),
  );
  t.same(details, [
    'duplicate Pod demo/a: defined in a.yaml (document 1) and again in b.yaml (document 1)',
    'duplicate address 198.18.1.6: Pod demo/b in a.yaml (document 2) and Pod demo/c in b.yaml (document 2)',
    'duplicate cluster IP 198.19.0.1: Service demo/s1 in svc.yaml (document 1) and Service other/s2 in svc.yaml (document 2)',
  ]);
});

t.test('a Workload object and a Pod cannot share an address; hostNetwork pods may', async (t) => {
  const vm = `apiVersion: meshlet.io/v1alpha1\nkind: Workload\nmetadata: {name: vm, namespace: demo}\nspec: {address: 198.18.1.10, node: node-a}\n`;
  t.same(conflictDetails(objects(['nodes.yaml', NODES], ['p.yaml', pod('p')], ['vm.yaml', vm])), [
    'duplicate address 198.18.1.10: Pod demo/p in p.yaml (document 1) and Workload demo/vm in vm.yaml (document 1)',
  ]);
  const hostPods = `${pod('h1', { ip: '198.18.0.1', hostNetwork: true })}---\n${pod('h2', { ip: '198.18.0.1', hostNetwork: true })}`;
  t.doesNotThrow(() => buildClusterState(objects(['nodes.yaml', NODES], ['h.yaml', hostPods])), 'hostNetwork pods share the node address');
});

t.test('a meshed workload needs a known node with an InternalIP', async (t) => {
  const noIp = `apiVersion: v1\nkind: Node\nmetadata: {name: node-c}\nstatus: {addresses: [{type: Hostname, address: node-c}]}\n`;
  const details = conflictDetails(
    objects(
      ['nodes.yaml', `${NODES}---\n${noIp}`],
      ['ns.yaml', `${ns('demo', 'enabled')}---\n${ns('plain')}`],
      ['p.yaml', `${pod('lost', { node: 'node-x', ip: '198.18.9.1' })}---\n${pod('c', { node: 'node-c', ip: '198.18.9.2' })}---\n${pod('fine', { ns: 'plain', node: 'node-x', ip: '198.18.9.3' })}`],
    ),
  );
  t.same(details, [
    'Pod demo/c in p.yaml (document 2) is meshed but its node, Node node-c in nodes.yaml (document 3), has no InternalIP address',
    'Pod demo/lost in p.yaml (document 1) is meshed but its node "node-x" has no Node object',
  ], 'a pod that is not meshed may run anywhere');
});

t.test('membership', async (t) => {
  const state = buildClusterState(
    objects(
      ['nodes.yaml', NODES],
      ['ns.yaml', `${ns('on', 'enabled')}---\n${ns('off')}---\n${ns('odd', 'yes')}`],
      [
        'pods.yaml',
        [
          pod('in', { ns: 'on', ip: '198.18.1.1' }),
          pod('opted-out', { ns: 'on', ip: '198.18.1.2', labels: 'meshlet.io/mesh: disabled' }),
          pod('unscheduled', { ns: 'on', node: '', ip: '198.18.1.3' }),
          pod('no-ip', { ns: 'on', ip: '' }),
          pod('host', { ns: 'on', ip: '198.18.0.1', hostNetwork: true }),
          pod('plain', { ns: 'off', ip: '198.18.1.4' }),
          pod('not-enabled', { ns: 'odd', ip: '198.18.1.5' }),
          pod('no-namespace-object', { ns: 'ghost', ip: '198.18.1.6' }),
        ].join('---\n'),
      ],
      [
        'vms.yaml',
        [
          'apiVersion: meshlet.io/v1alpha1\nkind: Workload\nmetadata: {name: vm, namespace: ghost}\nspec: {address: 198.18.2.1, node: node-b}\n',
          'apiVersion: meshlet.io/v1alpha1\nkind: Workload\nmetadata: {name: vm-out, namespace: on, labels: {meshlet.io/mesh: disabled}}\nspec: {address: 198.18.2.2, node: node-zz}\n',
        ].join('---\n'),
      ],
    ),
  );
  t.same(state.workloads.map((w) => w.uid), ['Pod/on/in', 'Workload/ghost/vm'], 'only these are meshed');
  t.same(
    state.members.filter((m) => !m.meshed).map((m) => m.uid),
    ['Pod/ghost/no-namespace-object', 'Pod/odd/not-enabled', 'Pod/off/plain', 'Pod/on/host', 'Pod/on/no-ip', 'Pod/on/opted-out', 'Pod/on/unscheduled', 'Workload/on/vm-out'],
  );
  const vm = state.workloads[1];
  t.same([vm?.identity, vm?.nodeAddress, vm?.serviceAccount], ['spiffe://cluster.local/ns/ghost/sa/default', '198.18.0.2', 'default']);
});

t.test('TLS mode precedence', async (t) => {
  const build = (...policies: string[]): Record<string, string> => {
    const state = buildClusterState(
      objects(
        ['nodes.yaml', NODES],
        ['ns.yaml', `${ns('demo', 'enabled')}---\n${ns('shop', 'enabled')}`],
        ['pods.yaml', [pod('db', { ip: '198.18.1.1', labels: 'app: db' }), pod('web', { ip: '198.18.1.2', labels: 'app: web' }), pod('cart', { ns: 'shop', ip: '198.18.1.3' })].join('---\n')],
        ['tls.yaml', policies.join('---\n')],
      ),
    );
    return Object.fromEntries(state.workloads.map((w) => [w.name, w.tlsMode]));
  };
  t.same(build(), { cart: 'PERMISSIVE', db: 'PERMISSIVE', web: 'PERMISSIVE' }, 'no MeshTLS: PERMISSIVE');
  t.same(build(tls('root', 'meshlet-system', 'STRICT')), { cart: 'STRICT', db: 'STRICT', web: 'STRICT' }, 'root namespace-wide is the mesh default');
  t.same(
    build(tls('root', 'meshlet-system', 'STRICT'), tls('ns', 'demo', 'PERMISSIVE')),
    { cart: 'STRICT', db: 'PERMISSIVE', web: 'PERMISSIVE' },
    'namespace-wide beats the mesh default',
  );
  t.same(
    build(tls('root', 'meshlet-system', 'STRICT'), tls('ns', 'demo', 'PERMISSIVE'), tls('db', 'demo', 'STRICT', 'app: db')),
    { cart: 'STRICT', db: 'STRICT', web: 'PERMISSIVE' },
    'a selector beats namespace-wide',
  );
  t.same(
    build(tls('ns', 'demo', 'STRICT'), tls('web', 'demo', 'PERMISSIVE', 'app: web')),
    { cart: 'PERMISSIVE', db: 'STRICT', web: 'PERMISSIVE' },
    'a selector may relax a STRICT namespace',
  );
  t.same(
    build(tls('a', 'demo', 'PERMISSIVE'), tls('b', 'demo', 'STRICT')),
    { cart: 'PERMISSIVE', db: 'STRICT', web: 'STRICT' },
    'two at one level: STRICT wins',
  );
  t.same(
    build(tls('a', 'demo', 'PERMISSIVE', 'app: web'), tls('b', 'demo', 'STRICT', 'app: web')),
    { cart: 'PERMISSIVE', db: 'PERMISSIVE', web: 'STRICT' },
    'two selectors: STRICT wins',
  );
  t.same(build(tls('x', 'shop', 'STRICT', 'app: db')), { cart: 'PERMISSIVE', db: 'PERMISSIVE', web: 'PERMISSIVE' }, 'a selector applies in its own namespace only');
  t.same(build(tls('x', 'meshlet-system', 'STRICT', 'app: web')), { cart: 'PERMISSIVE', db: 'PERMISSIVE', web: 'PERMISSIVE' }, 'a root selector is not a mesh default');
});

t.test('trust domain', async (t) => {
  const state = buildClusterState(twoNodeObjects(), { trustDomain: 'prod.example' });
  t.equal(state.workloads[0]?.identity, 'spiffe://prod.example/ns/demo/sa/client');
  const err = thrown(() => buildClusterState([], { trustDomain: 'Bad Domain' }));
  t.ok(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'));
  t.match((err as Error).message, /trust domain "Bad Domain" is not a valid SPIFFE trust domain/);
});
