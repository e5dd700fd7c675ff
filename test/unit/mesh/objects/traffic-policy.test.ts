/**
 * TrafficPolicy validation: each load-balancer type compiles to the balancer spec, hash keys and
 * locality the agent uses; every bad field is named with file, object and field, including the
 * balancer limits checked by `balancerSpecProblems`. Also the opaque-ports annotation and the
 * Node zone label.
 */
import t from 'tap';
import { isMeshletError } from '../../../../src/mesh/errors.js';
import { parseObjects } from '../../../../src/mesh/objects/parse.js';
import type { NodeObject, ServiceObject, TrafficPolicyObject } from '../../../../src/mesh/types.js';
import { thrown } from '../fixture.js';

const POLICY = (lb: string, targets = '[{group: "", kind: Service, name: web}]'): string => `apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: p, namespace: demo}
spec:
  targetRefs: ${targets}
${lb}`;

function policyOf(text: string): TrafficPolicyObject {
  return parseObjects(text, 'p.yaml')[0] as TrafficPolicyObject;
}

function problems(text: string): string[] {
  const err = thrown(() => parseObjects(text, 'p.yaml'));
  if (!isMeshletError(err, 'MESHLET_ERR_OBJECT_INVALID')) throw new Error(`expected MESHLET_ERR_OBJECT_INVALID, got ${String(err)}`);
  return [...err.details];
}

t.test('each load balancer type compiles', async (t) => {
  const cases: [string, string, object][] = [
    ['no loadBalancer: defaults', '', { balancer: { algorithm: 'least-request' }, hashKeys: [], preferLocalZone: false }],
    ['RoundRobin', '  loadBalancer: {type: RoundRobin}\n', { balancer: { algorithm: 'round-robin' }, hashKeys: [], preferLocalZone: false }],
    ['LeastRequest with choices', '  loadBalancer: {type: LeastRequest, leastRequest: {choiceCount: 3}}\n', { balancer: { algorithm: 'least-request', choiceCount: 3 }, hashKeys: [], preferLocalZone: false }],
    ['PeakEWMA', '  loadBalancer: {type: PeakEWMA, peakEWMA: {defaultRTT: 50ms, decay: 10s}}\n', { balancer: { algorithm: 'peak-ewma', ewmaDefaultRttMs: 50, ewmaDecayMs: 10000 }, hashKeys: [], preferLocalZone: false }],
    ['ConsistentHash on a cookie, Maglev', '  loadBalancer: {type: ConsistentHash, consistentHash: {type: Cookie, cookie: {name: session}, tableSize: 65537}}\n', { balancer: { algorithm: 'maglev', maglevTableSize: 65537 }, hashKeys: [{ kind: 'cookie', name: 'session' }], preferLocalZone: false }],
    ['ConsistentHash on the source IP, ring', '  loadBalancer: {type: ConsistentHash, consistentHash: {type: SourceIP, algorithm: RingHash, pointsPerEndpoint: 100}}\n', { balancer: { algorithm: 'ring-hash', ringPointsPerEndpoint: 100 }, hashKeys: [{ kind: 'source-ip' }], preferLocalZone: false }],
    ['zone aware', '  loadBalancer: {zoneAware: {preferLocal: true}}\n', { balancer: { algorithm: 'least-request' }, hashKeys: [], preferLocalZone: true }],
  ];
  for (const [name, lb, want] of cases) {
    const p = policyOf(POLICY(lb));
    t.same(p.targets, ['web'], name);
    t.same(p.policy, { policy: 'demo/p', ...want }, name);
  }
});

t.test('every bad field is named, balancer limits included', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['unknown type', POLICY('  loadBalancer: {type: Random}\n'), /spec\.loadBalancer\.type: must be one of RoundRobin, LeastRequest, PeakEWMA, ConsistentHash, got "Random"$/],
    ['choices over the limit', POLICY('  loadBalancer: {type: LeastRequest, leastRequest: {choiceCount: 17}}\n'), /spec\.loadBalancer\.leastRequest\.choiceCount: 17 \(an integer from 2 to 16\)$/],
    ['table not prime', POLICY('  loadBalancer: {type: ConsistentHash, consistentHash: {type: SourceIP, tableSize: 65536}}\n'), /spec\.loadBalancer\.consistentHash\.tableSize: 65536 \(a prime up to 5000011/],
    ['decay too long', POLICY('  loadBalancer: {type: PeakEWMA, peakEWMA: {decay: 2h}}\n'), /spec\.loadBalancer\.peakEWMA\.decay: 7200000 \(positive milliseconds up to 3600000\)$/],
    ['bad duration', POLICY('  loadBalancer: {type: PeakEWMA, peakEWMA: {defaultRTT: fast}}\n'), /spec\.loadBalancer\.peakEWMA\.defaultRTT: must be a duration/],
    ['section of another type', POLICY('  loadBalancer: {type: RoundRobin, peakEWMA: {decay: 1s}}\n'), /spec\.loadBalancer\.peakEWMA: only applies when type is PeakEWMA, not RoundRobin$/],
    ['hash without settings', POLICY('  loadBalancer: {type: ConsistentHash}\n'), /spec\.loadBalancer\.consistentHash: required when type is ConsistentHash$/],
    ['header hash without header', POLICY('  loadBalancer: {type: ConsistentHash, consistentHash: {type: Header}}\n'), /spec\.loadBalancer\.consistentHash\.header: required when type is Header/],
    ['tableSize on a ring', POLICY('  loadBalancer: {type: ConsistentHash, consistentHash: {type: SourceIP, algorithm: RingHash, tableSize: 7}}\n'), /consistentHash\.tableSize: only applies when algorithm is Maglev$/],
    ['unknown lb field', POLICY('  loadBalancer: {slowStart: {window: 1s}}\n'), /spec\.loadBalancer\.slowStart: unknown field \(allowed: type, leastRequest, peakEWMA, consistentHash, zoneAware\)$/],
    ['an Envoy Gateway field meshlet does not read', POLICY('  proxyProtocol: {version: V2}\n'), /spec\.proxyProtocol: unknown field \(allowed: targetRefs, loadBalancer, timeout, retry, /],
    ['preferLocal not a boolean', POLICY('  loadBalancer: {zoneAware: {preferLocal: yes please}}\n'), /spec\.loadBalancer\.zoneAware\.preferLocal: must be true or false/],
    ['no targets', POLICY('', '[]'), /spec\.targetRefs: required: at least one Service/],
    ['target of another kind', POLICY('', '[{group: apps, kind: Deployment, name: web}]'), /spec\.targetRefs\[0\]\.kind: must be Service, got "Deployment"$/],
    ['duplicate target', POLICY('', '[{kind: Service, name: web}, {kind: Service, name: web}]'), /spec\.targetRefs\[1\]\.name: duplicate target "web"$/],
    ['too many targets', POLICY('', `[${Array.from({ length: 17 }, (_, i) => `{kind: Service, name: s${i}}`).join(', ')}]`), /spec\.targetRefs: at most 16 entries, got 17$/],
  ];
  for (const [name, text, want] of cases) {
    const lines = problems(text);
    t.match(lines[0], /^p\.yaml:\d+ \(document 1\): TrafficPolicy demo\/p: /, `${name}: names file, line and object`);
    t.match(lines.join('\n'), new RegExp(want.source, 'm'), name);
  }
});

t.test('the opaque-ports annotation and the zone label', async (t) => {
  const svc = (annotation: string): string => `apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: demo
  annotations: {meshlet.io/opaque-ports: ${annotation}}
spec: {ports: [{name: a, port: 3306}, {name: b, port: 5432}]}
`;
  t.same((parseObjects(svc('"5432, 3306,5432"'), 's.yaml')[0] as ServiceObject).opaquePorts, [3306, 5432], 'sorted, no duplicates');
  t.match(problems(svc('"3306;5432"'))[0], /metadata\.annotations\.meshlet\.io\/opaque-ports: must be port numbers separated by commas, e\.g\. "3306,5432"; "3306;5432" is not a port number/);
  t.match(problems(svc('"8080"'))[0], /8080 is not a TCP port of the Service \(3306, 5432\)$/);
  t.match(problems(svc('3306'))[0], /annotation values must be strings \(quote it\), got 3306$/);
  const node = parseObjects('apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {topology.kubernetes.io/zone: eu-west-1a}}\n', 'n.yaml')[0] as NodeObject;
  t.equal(node.zone, 'eu-west-1a');
  t.equal((parseObjects('apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n', 'n.yaml')[0] as NodeObject).zone, undefined);
});
