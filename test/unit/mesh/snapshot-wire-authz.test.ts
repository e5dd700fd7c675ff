/**
 * AuthorizationPolicies on the controller->agent wire: encode then decode gives them back (the
 * agent's stored view too), an older controller's view decodes to none, and each hostile value
 * is refused on its own, naming the policy and the field.
 */
import t from 'tap';
import { gunzipSync, gzipSync } from 'node:zlib';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { buildClusterState, computeSnapshot } from '../../../src/mesh/snapshot.js';
import { clusterViewOfSnapshot, decodeSnapshot, encodeClusterView, snapshotToWire, type SnapshotWire } from '../../../src/mesh/snapshot-wire/encode.js';
import { AUTHZ_WIRE_LIMITS } from '../../../src/mesh/snapshot-wire/authz.js';
import type { AuthorizationPolicyData } from '../../../src/mesh/authz/types.js';
import type { AuthorizationPolicyObject } from '../../../src/mesh/types.js';
import { thrown, twoNodeObjects } from './fixture.js';

const TD = 'cluster.local';
const EXPECTED = { node: 'node-a', trustDomain: TD };

function policy(data: Omit<AuthorizationPolicyData, 'key' | 'namespace' | 'name'> & { ref: string }): AuthorizationPolicyObject {
  const { ref, ...rest } = data;
  const [namespace = '', name = ''] = ref.split('/');
  return { kind: 'AuthorizationPolicy', name, namespace, labels: {}, source: { file: 'authz.yaml', doc: 0 }, policy: { key: ref, namespace, name, ...rest } };
}

/** Every field of the model used at least once. */
const POLICIES: AuthorizationPolicyObject[] = [
  policy({
    ref: 'demo/web-allow',
    apiVersion: 'meshlet.io/v1alpha1',
    action: 'ALLOW',
    selector: { app: 'web', 'app.kubernetes.io/part-of': 'shop' },
    rules: [
      {
        from: [
          { source: { principals: ['cluster.local/ns/demo/sa/client', 'cluster.local/ns/shop/*'], notPrincipals: ['*/sa/evil'] } },
          { source: { namespaces: ['demo'], notNamespaces: ['legacy'], ipBlocks: ['198.18.0.0/16'], notIpBlocks: ['198.18.9.9'] } },
          { source: { remoteIpBlocks: ['2001:db8::/32'], notRemoteIpBlocks: ['2001:db8::1'] } },
        ],
        to: [{ operation: { ports: ['8080'], notPorts: ['9102'], methods: ['GET', 'HEAD'], notMethods: ['DELETE'], paths: ['/api/*', '/v1/{*}/x'], notPaths: ['/admin'], hosts: ['web.demo'], notHosts: ['*.evil'] } }],
        when: [
          { key: 'request.headers[x-user]', values: ['alice'], notValues: ['mallory'] },
          { key: 'source.principal', values: ['cluster.local/ns/demo/sa/client'] },
          { key: 'destination.port', notValues: ['9102'] },
        ],
      },
      {},
    ],
    creationTimestamp: 1_700_000_000_000,
  }),
  policy({ ref: 'demo/web-allow', apiVersion: 'security.istio.io/v1', action: 'DENY', targetServices: ['web'], rules: [{ to: [{ operation: { paths: ['/admin/*'] } }] }], creationTimestamp: 0 }),
  policy({ ref: 'meshlet-system/audit', apiVersion: 'security.istio.io/v1beta1', action: 'AUDIT', rules: [], creationTimestamp: 5 }),
];

const state = buildClusterState([...twoNodeObjects(), ...POLICIES]);
const snapshot = computeSnapshot(state, 'node-a', 'v1');
const wire = snapshotToWire(encodeClusterView(state, 'v1'), snapshot);

type View = Record<string, any>;

/** The wire with its cluster view changed by `mutate`. */
function mutated(mutate: (view: View) => void): SnapshotWire {
  const view = JSON.parse(gunzipSync(wire.cluster).toString('utf8')) as View;
  mutate(view);
  return { ...wire, cluster: gzipSync(JSON.stringify(view)) };
}

/** The problems of a decode that must fail. */
function failure(w: SnapshotWire): string[] {
  const err = thrown(() => decodeSnapshot(w, EXPECTED));
  if (!isMeshletError(err, 'MESHLET_ERR_CONTROLLER')) throw new Error(`expected MESHLET_ERR_CONTROLLER, got ${String(err)}`);
  return [...err.details];
}

t.test('encode then decode gives every policy back, every field', async (t) => {
  const decoded = decodeSnapshot(wire, EXPECTED);
  t.strictSame(decoded, snapshot);
  t.equal(decoded.authorizationPolicies?.length, 3);
  t.strictSame(decoded.authorizationPolicies, state.authorizationPolicies);
});

t.test("the agent store's view of a snapshot keeps its policies", async (t) => {
  const again = snapshotToWire(encodeClusterView(clusterViewOfSnapshot(snapshot), 'v1'), snapshot);
  t.strictSame(decodeSnapshot(again, EXPECTED), snapshot);
});

t.test('the wire carries the model\'s fields only', async (t) => {
  const extra = { ...POLICIES[2]!.policy, note: 'not a field' } as AuthorizationPolicyData;
  const view = encodeClusterView({ ...state, authorizationPolicies: [extra] }, 'v1');
  const json = JSON.parse(gunzipSync(view.bytes).toString('utf8')) as View;
  t.same(Object.keys(json['authorizationPolicies'][0]).sort(), ['action', 'apiVersion', 'creationTimestamp', 'key', 'name', 'namespace', 'rules']);
});

t.test("an older controller's view (no policies) decodes to none; no policies: no field", async (t) => {
  const old = mutated((v) => delete v['authorizationPolicies']);
  t.equal(decodeSnapshot(old, EXPECTED).authorizationPolicies, undefined);
  const empty = mutated((v) => (v['authorizationPolicies'] = []));
  t.equal('authorizationPolicies' in decodeSnapshot(empty, EXPECTED), false);
});

t.test('a meshlet.io and an Istio policy of one name are two; the same group twice is refused', async (t) => {
  t.equal(decodeSnapshot(wire, EXPECTED).authorizationPolicies?.filter((p) => p.key === 'demo/web-allow').length, 2);
  const twice = mutated((v) => (v['authorizationPolicies'][1]['apiVersion'] = 'meshlet.io/v1alpha1'));
  t.same(failure(twice), ['cluster.authorizationPolicies[1] demo/web-allow: appears twice (meshlet.io/v1alpha1)']);
  const versions = mutated((v) => v['authorizationPolicies'].push({ ...v['authorizationPolicies'][1], apiVersion: 'security.istio.io/v1beta1' }));
  t.same(failure(versions), ['cluster.authorizationPolicies[3] demo/web-allow: appears twice (security.istio.io/v1beta1)']);
});

const P0 = 'cluster.authorizationPolicies[0] demo/web-allow: ';
const long = 'a'.repeat(AUTHZ_WIRE_LIMITS.valueLength + 1);

/** Each hostile change on its own, and the one problem it must give. */
const HOSTILE: [string, (v: View) => void, string | RegExp][] = [
  ['not a list', (v) => (v['authorizationPolicies'] = { a: 1 }), 'cluster.authorizationPolicies: must be a list, got a mapping'],
  ['a policy that is not an object', (v) => (v['authorizationPolicies'][0] = 'allow-all'), 'cluster.authorizationPolicies[0]: must be an object, got "allow-all"'],
  ['too many policies', (v) => (v['authorizationPolicies'] = new Array(AUTHZ_WIRE_LIMITS.policies + 1).fill(0)), `cluster.authorizationPolicies: holds ${AUTHZ_WIRE_LIMITS.policies + 1} policies, more than ${AUTHZ_WIRE_LIMITS.policies}`],
  ['an unknown policy field', (v) => (v['authorizationPolicies'][0]['provider'] = { name: 'ext' }), `${P0}"provider": is not a field of an AuthorizationPolicy here (an agent older than its controller?)`],
  ['a __proto__ field', (v) => (v['authorizationPolicies'][0] = JSON.parse(JSON.stringify(v['authorizationPolicies'][0]).replace('{', '{"__proto__":{"action":"ALLOW"},'))), `${P0}"__proto__": is not a field of an AuthorizationPolicy here (an agent older than its controller?)`],
  ['a bad namespace', (v) => (v['authorizationPolicies'][0]['namespace'] = 'Demo'), 'cluster.authorizationPolicies[0].namespace: "Demo" is not a namespace (a DNS-1123 label)'],
  ['a bad name', (v) => (v['authorizationPolicies'][0]['name'] = 'a/b'), 'cluster.authorizationPolicies[0].name: "a/b" is not an object name (a DNS-1123 subdomain)'],
  ['a key that is not namespace/name', (v) => (v['authorizationPolicies'][0]['key'] = 'demo/other'), 'cluster.authorizationPolicies[0].key: "demo/other" is not "demo/web-allow"'],
  ['an unknown apiVersion', (v) => (v['authorizationPolicies'][0]['apiVersion'] = 'security.istio.io/v2'), `${P0}apiVersion: "security.istio.io/v2" is not one of meshlet.io/v1alpha1, security.istio.io/v1, security.istio.io/v1beta1`],
  ['a CUSTOM action', (v) => (v['authorizationPolicies'][0]['action'] = 'CUSTOM'), `${P0}action: "CUSTOM" is not one of ALLOW, DENY, AUDIT`],
  ['a lower-case action', (v) => (v['authorizationPolicies'][0]['action'] = 'deny'), `${P0}action: "deny" is not one of ALLOW, DENY, AUDIT`],
  ['no action', (v) => delete v['authorizationPolicies'][0]['action'], `${P0}action: required (one of ALLOW, DENY, AUDIT)`],
  ['a negative creationTimestamp', (v) => (v['authorizationPolicies'][0]['creationTimestamp'] = -1), `${P0}creationTimestamp: must be a whole number of milliseconds >= 0, got -1`],
  ['a fractional creationTimestamp', (v) => (v['authorizationPolicies'][0]['creationTimestamp'] = 1.5), `${P0}creationTimestamp: must be a whole number of milliseconds >= 0, got 1.5`],
  ['a string creationTimestamp', (v) => (v['authorizationPolicies'][0]['creationTimestamp'] = '2026-01-01'), `${P0}creationTimestamp: must be a whole number of milliseconds >= 0, got "2026-01-01"`],
  ['rules not a list', (v) => (v['authorizationPolicies'][0]['rules'] = {}), `${P0}rules: must be a list, got a mapping`],
  ['no rules', (v) => delete v['authorizationPolicies'][0]['rules'], `${P0}rules: required (a list)`],
  ['too many rules', (v) => (v['authorizationPolicies'][0]['rules'] = new Array(AUTHZ_WIRE_LIMITS.entries + 1).fill({})), `${P0}rules: holds ${AUTHZ_WIRE_LIMITS.entries + 1} entries, more than ${AUTHZ_WIRE_LIMITS.entries}`],
  ['a rule that is not an object', (v) => (v['authorizationPolicies'][0]['rules'][1] = []), `${P0}rules[1]: must be an object, got a list`],
  ['an unknown rule field', (v) => (v['authorizationPolicies'][0]['rules'][1]['unless'] = []), `${P0}rules[1]["unless"]: is not a field of an AuthorizationPolicy here (an agent older than its controller?)`],
  ['a from entry without source', (v) => (v['authorizationPolicies'][0]['rules'][0]['from'][0] = {}), `${P0}rules[0].from[0].source: required`],
  ['a from entry with another field', (v) => (v['authorizationPolicies'][0]['rules'][0]['from'][0]['sources'] = {}), `${P0}rules[0].from[0]["sources"]: is not a field of an AuthorizationPolicy here (an agent older than its controller?)`],
  ['an unknown source field', (v) => (v['authorizationPolicies'][0]['rules'][0]['from'][0]['source']['requestPrincipals'] = ['*']), `${P0}rules[0].from[0].source["requestPrincipals"]: is not a field of an AuthorizationPolicy here (an agent older than its controller?)`],
  ['a principal that is not a string', (v) => (v['authorizationPolicies'][0]['rules'][0]['from'][0]['source']['principals'][1] = 5), `${P0}rules[0].from[0].source.principals[1]: must be a string, got 5`],
  ['principals not a list', (v) => (v['authorizationPolicies'][0]['rules'][0]['from'][0]['source']['principals'] = 'cluster.local/*'), `${P0}rules[0].from[0].source.principals: must be a list, got "cluster.local/*"`],
  ['a value too long', (v) => (v['authorizationPolicies'][0]['rules'][0]['to'][0]['operation']['paths'][0] = long), `${P0}rules[0].to[0].operation.paths[0]: is longer than ${AUTHZ_WIRE_LIMITS.valueLength} characters`],
  ['too many values', (v) => (v['authorizationPolicies'][0]['rules'][0]['to'][0]['operation']['hosts'] = new Array(AUTHZ_WIRE_LIMITS.values + 1).fill('a')), `${P0}rules[0].to[0].operation.hosts: holds ${AUTHZ_WIRE_LIMITS.values + 1} entries, more than ${AUTHZ_WIRE_LIMITS.values}`],
  ['an unknown operation field', (v) => (v['authorizationPolicies'][0]['rules'][0]['to'][0]['operation']['headers'] = ['x']), `${P0}rules[0].to[0].operation["headers"]: is not a field of an AuthorizationPolicy here (an agent older than its controller?)`],
  ['an operation that is not an object', (v) => (v['authorizationPolicies'][0]['rules'][0]['to'][0]['operation'] = null), `${P0}rules[0].to[0].operation: must be an object, got null`],
  ['an unsupported condition key', (v) => (v['authorizationPolicies'][0]['rules'][0]['when'][1]['key'] = 'request.auth.claims[iss]'), `${P0}rules[0].when[1].key: "request.auth.claims[iss]" is not a supported condition key`],
  ['an upper-case header condition', (v) => (v['authorizationPolicies'][0]['rules'][0]['when'][0]['key'] = 'request.headers[X-User]'), `${P0}rules[0].when[0].key: "request.headers[X-User]" is not a supported condition key`],
  ['a header name too long', (v) => (v['authorizationPolicies'][0]['rules'][0]['when'][0]['key'] = `request.headers[${'h'.repeat(257)}]`), /^cluster\.authorizationPolicies\[0\] demo\/web-allow: rules\[0\]\.when\[0\]\.key: "request\.headers\[h+\.\.\. is not a supported condition key$/],
  ['an unknown condition field', (v) => (v['authorizationPolicies'][0]['rules'][0]['when'][2]['value'] = '1'), `${P0}rules[0].when[2]["value"]: is not a field of an AuthorizationPolicy here (an agent older than its controller?)`],
  ['condition values not strings', (v) => (v['authorizationPolicies'][0]['rules'][0]['when'][2]['notValues'] = [9102]), `${P0}rules[0].when[2].notValues[0]: must be a string, got 9102`],
  ['a selector that is not an object', (v) => (v['authorizationPolicies'][0]['selector'] = ['app=web']), `${P0}selector: must be an object, got a list`],
  ['a bad label key', (v) => (v['authorizationPolicies'][0]['selector'] = { '-app': 'web' }), `${P0}selector["-app"]: is not a label key`],
  ['a __proto__ label', (v) => (v['authorizationPolicies'][0]['selector'] = JSON.parse('{"__proto__":"x"}')), `${P0}selector["__proto__"]: is not a label key`],
  ['a bad label value', (v) => (v['authorizationPolicies'][0]['selector']['app'] = 'web server'), `${P0}selector.app: "web server" is not a label value`],
  ['too many labels', (v) => (v['authorizationPolicies'][0]['selector'] = Object.fromEntries(Array.from({ length: AUTHZ_WIRE_LIMITS.labels + 1 }, (_, i) => [`l${i}`, 'x']))), `${P0}selector: holds ${AUTHZ_WIRE_LIMITS.labels + 1} labels, more than ${AUTHZ_WIRE_LIMITS.labels}`],
  ['a bad targetServices name', (v) => (v['authorizationPolicies'][1]['targetServices'] = ['Web']), 'cluster.authorizationPolicies[1] demo/web-allow: targetServices[0]: "Web" is not a Service name (a DNS-1035 label)'],
  ['too many targetServices', (v) => (v['authorizationPolicies'][1]['targetServices'] = new Array(AUTHZ_WIRE_LIMITS.targetServices + 1).fill('web')), `cluster.authorizationPolicies[1] demo/web-allow: targetServices: holds ${AUTHZ_WIRE_LIMITS.targetServices + 1} entries, more than ${AUTHZ_WIRE_LIMITS.targetServices}`],
];

t.test('each hostile value is refused on its own, naming the policy and the field', async (t) => {
  t.ok(HOSTILE.length > 30, `${HOSTILE.length} cases`);
  for (const [name, mutate, expected] of HOSTILE) {
    const problems = failure(mutated(mutate));
    t.equal(problems.length, 1, `${name}: one problem`);
    if (typeof expected === 'string') t.equal(problems[0], expected, name);
    else t.match(problems[0], expected, name);
  }
});

t.test("a value the parser refuses is refused from the wire too, naming the policy and the field", async (t) => {
  const problems = failure(mutated((v) => (v['authorizationPolicies'][0]['rules'][0]['from'][1]['source']['ipBlocks'] = ['198.18.0.0/33'])));
  t.equal(problems.length, 1);
  t.match(problems[0], /^cluster\.authorizationPolicies\[0\] demo\/web-allow: rules\[0\]\.from\[1\]\.source\.ipBlocks\[0\]: /);
  const both = failure(mutated((v) => (v['authorizationPolicies'][1]['selector'] = { app: 'web' })));
  t.equal(both.length, 1);
  t.match(both[0], /^cluster\.authorizationPolicies\[1\] demo\/web-allow: /, 'a selector and targetServices together');
});

t.test('the error message names the snapshot and the first problems; nothing of the view is used', async (t) => {
  const err = thrown(() => decodeSnapshot(mutated((v) => (v['authorizationPolicies'][0]['action'] = 'CUSTOM')), EXPECTED));
  t.equal(isMeshletError(err, 'MESHLET_ERR_CONTROLLER'), true);
  t.match((err as Error).message, `snapshot "v1" is invalid: ${P0}action: "CUSTOM" is not one of ALLOW, DENY, AUDIT`);
});
