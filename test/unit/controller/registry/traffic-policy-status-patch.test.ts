/**
 * The status meshlet writes on a TrafficPolicy: its own ancestors replaced, other controllers'
 * kept, lastTransitionTime kept while a condition holds, no write when nothing changed, and
 * the Gateway API's cap of 16 ancestors even when another controller fills it.
 */
import t from 'tap';
import { trafficPolicyStatusBody } from '../../../../src/controller/registry/traffic-policy-status-patch.js';
import { MAX_POLICY_ANCESTORS, type PolicyAncestorStatus, type TrafficPolicyStatus } from '../../../../src/mesh/traffic-policy-status.js';

const ancestor = (name: string, ok: boolean): PolicyAncestorStatus => ({
  ancestorRef: { group: '', kind: 'Service', namespace: 'demo', name },
  controllerName: 'meshlet.io/controller',
  conditions: [{ type: 'Accepted', status: ok ? 'True' : 'False', reason: ok ? 'Accepted' : 'TargetNotFound', message: 'm' }],
});
const status = (...ancestors: PolicyAncestorStatus[]): TrafficPolicyStatus => ({ namespace: 'demo', name: 'p', ancestors });
const other = { ancestorRef: { kind: 'Service', name: 'web' }, controllerName: 'example.com/other', conditions: [{ type: 'Accepted', status: 'True' }] };

type Body = { ancestors: { controllerName: string; ancestorRef: { name: string }; conditions: { status: string; lastTransitionTime: string; observedGeneration?: number }[] }[] };

t.test('first write: ours after the others, with times and observedGeneration', async (t) => {
  const body = trafficPolicyStatusBody({ ancestors: [other] }, status(ancestor('web', true)), 5, 'T1') as Body | undefined;
  t.same(body?.ancestors.map((a) => a.controllerName), ['example.com/other', 'meshlet.io/controller']);
  t.same(body?.ancestors[1]?.conditions[0], { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'm', lastTransitionTime: 'T1', observedGeneration: 5 });
  const noGeneration = trafficPolicyStatusBody(undefined, status(ancestor('web', true)), undefined, 'T1') as Body | undefined;
  t.equal(noGeneration?.ancestors[0]?.conditions[0]?.observedGeneration, undefined, 'no generation known: none written');
});

t.test('nothing changed: no write; a status flip moves lastTransitionTime, a message change does not', async (t) => {
  const first = trafficPolicyStatusBody({ ancestors: [other] }, status(ancestor('web', true)), 5, 'T1');
  // The API server returns keys in its own order; the comparison does not care.
  const reordered = JSON.parse(JSON.stringify(first, (_k, v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v))) as unknown;
  t.equal(trafficPolicyStatusBody(reordered, status(ancestor('web', true)), 5, 'T2'), undefined);
  const newMessage = { ...ancestor('web', true), conditions: [{ type: 'Accepted' as const, status: 'True' as const, reason: 'Accepted' as const, message: 'other words' }] };
  const kept = trafficPolicyStatusBody(first, status(newMessage), 5, 'T2') as Body | undefined;
  t.equal(kept?.ancestors[1]?.conditions[0]?.lastTransitionTime, 'T1', 'same status: the time stays');
  const flipped = trafficPolicyStatusBody(first, status(ancestor('web', false)), 5, 'T3') as Body | undefined;
  t.equal(flipped?.ancestors[1]?.conditions[0]?.lastTransitionTime, 'T3');
  const bumped = trafficPolicyStatusBody(first, status(ancestor('web', true)), 6, 'T4') as Body | undefined;
  t.equal(bumped?.ancestors[1]?.conditions[0]?.observedGeneration, 6, 'a new generation alone is written');
});

t.test('hostile current status: non-objects ignored, at most 16 ancestors in all', async (t) => {
  const junk = { ancestors: ['x', null, 7, { controllerName: 'meshlet.io/controller', ancestorRef: 'web', conditions: 'no' }] };
  const body = trafficPolicyStatusBody(junk, status(ancestor('web', true)), 1, 'T') as Body | undefined;
  t.same(body?.ancestors.map((a) => a.ancestorRef.name), ['web'], 'meshlet\'s malformed entry replaced, junk dropped');
  const crowd = { ancestors: Array.from({ length: 15 }, (_, i) => ({ ...other, ancestorRef: { name: `o${i}` } })) };
  const ours = status(...Array.from({ length: 4 }, (_, i) => ancestor(`s${i}`, true)));
  const capped = trafficPolicyStatusBody(crowd, ours, 1, 'T') as Body | undefined;
  t.equal(capped?.ancestors.length, MAX_POLICY_ANCESTORS);
  t.same(capped?.ancestors.filter((a) => a.controllerName === 'meshlet.io/controller').map((a) => a.ancestorRef.name), ['s0']);
  t.equal(trafficPolicyStatusBody('not an object', status(), 1, 'T'), undefined, 'nothing of ours, nothing there: no write');
});
