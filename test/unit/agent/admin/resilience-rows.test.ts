/**
 * One process's live resilience block (src/agent/admin/resilience-rows.ts): built from the real
 * source-side state and destination gate, answered by a worker's runtime, and checked by the
 * primary: hostile or oversized answers are refused with a reason, the good ones merged.
 */
import t from 'tap';
import { MAX_RESILIENCE_ROWS, mergeWorkerResilience, parseProcessResilience, processResilience } from '../../../../src/agent/admin/resilience-rows.js';
import { InboundGate } from '../../../../src/agent/http/inbound-gate.js';
import { ServiceStates } from '../../../../src/agent/policy/resilience/service-state.js';
import type { FromWorker } from '../../../../src/agent/workers/protocol.js';
import { WorkerRuntime } from '../../../../src/agent/workers/runtime.js';
import { ADAPTIVE, indexOf, service, trafficPolicy, workload } from '../policy/resilience/inbound-fixture.js';

const GOOD = {
  worker: 4242,
  servicePorts: [{ servicePort: 'demo/web|80', requests: 2, pending: 1, retries: 1, retryBudget: { ratio: 0.2, minPerSecond: 10, ttlMs: 10_000, available: 9 }, latencyP50Ms: 1.5, latencyP99Ms: 20 }],
  adaptiveLimits: [{ workload: 'demo/web', port: 8080, limit: 3 }],
};

t.test('built from the real state: counters per Service port, adaptive limits by workload name and port', async (t) => {
  const states = new ServiceStates();
  const s = states.get('demo/web|80');
  s.requests = 2;
  s.retries = 1;
  s.budget({ ratio: 0.2, minPerSecond: 10, ttlMs: 10_000 });
  const api = workload('api', '198.18.1.10');
  const index = indexOf([service('api', [api], 80, 8080, trafficPolicy('p', { adaptiveConcurrency: ADAPTIVE }))], [api]);
  const gate = new InboundGate({ now: () => 0 });
  gate.enter(index, api.uid, 8080, { identity: undefined, headers: {} });
  const block = processResilience({ outboundHttp: { describeResilience: () => states.describe(0) }, inboundHttp: { gate } }, 77);
  t.equal(block.worker, 77);
  t.equal(block.servicePorts.length, 1);
  t.equal(block.servicePorts[0]?.servicePort, 'demo/web|80');
  t.equal(block.servicePorts[0]?.requests, 2);
  t.equal(block.servicePorts[0]?.retries, 1);
  t.equal(block.servicePorts[0]?.retryBudget?.ratio, 0.2);
  t.same(block.adaptiveLimits, [{ workload: 'demo/api', port: 8080, limit: ADAPTIVE.minConcurrency }]);
  t.type(parseProcessResilience(block), 'object', 'a real block passes the primary\'s check');
  const noOutbound = processResilience({ outboundHttp: undefined, inboundHttp: { gate: new InboundGate() } }, 1);
  t.same(noOutbound, { worker: 1, servicePorts: [], adaptiveLimits: [] });
});

t.test('a worker runtime answers the resilience query (before init: an empty block under its pid)', async (t) => {
  const sent: FromWorker[] = [];
  const runtime = new WorkerRuntime({ send: (m) => void sent.push(m), exit: () => undefined });
  runtime.onMessage({ type: 'query', id: 9, what: 'resilience' });
  await new Promise((r) => setImmediate(r));
  t.equal(sent.length, 1);
  t.same(sent[0], { type: 'answer', id: 9, value: { worker: process.pid, servicePorts: [], adaptiveLimits: [] } });
  t.same(parseProcessResilience((sent[0] as { value?: unknown }).value), { worker: process.pid, servicePorts: [], adaptiveLimits: [] });
});

t.test('a good answer is copied field by field: unknown fields do not travel on', async (t) => {
  const extra = { ...GOOD, secret: 'x', servicePorts: [{ ...GOOD.servicePorts[0], injected: '<script>' }] };
  const parsed = parseProcessResilience(extra);
  t.strictSame(parsed, GOOD);
  t.equal(Object.hasOwn(parsed as object, 'secret'), false);
});

t.test('hostile answers are refused with a reason naming the field', async (t) => {
  const port = GOOD.servicePorts[0] as Record<string, unknown>;
  const cases: Array<[unknown, RegExp]> = [
    [null, /not an object/],
    ['rows', /not an object/],
    [[], /not an object/],
    [{ ...GOOD, worker: -1 }, /worker must be a pid/],
    [{ ...GOOD, worker: 1.5 }, /worker must be a pid/],
    [{ ...GOOD, servicePorts: 'x' }, /servicePorts must be a list/],
    [{ ...GOOD, adaptiveLimits: undefined }, /adaptiveLimits must be a list/],
    [{ ...GOOD, servicePorts: [null] }, /servicePorts\[0\]: not an object/],
    [{ ...GOOD, servicePorts: [{ ...port, servicePort: 'x'.repeat(10_000) }] }, /servicePorts\[0\]: servicePort must be a short string/],
    [{ ...GOOD, servicePorts: [{ ...port, requests: -3 }] }, /requests, pending and retries must be counts/],
    [{ ...GOOD, servicePorts: [{ ...port, pending: Number.NaN }] }, /counts/],
    [{ ...GOOD, servicePorts: [{ ...port, retries: '1' }] }, /counts/],
    [{ ...GOOD, servicePorts: [{ ...port, latencyP99Ms: Infinity }] }, /latencies/],
    [{ ...GOOD, servicePorts: [{ ...port, latencyP50Ms: -1 }] }, /latencies/],
    [{ ...GOOD, servicePorts: [{ ...port, retryBudget: 'lots' }] }, /retryBudget must be an object/],
    [{ ...GOOD, servicePorts: [{ ...port, retryBudget: { ratio: 7, minPerSecond: 1, ttlMs: 1, available: 1 } }] }, /ratio in \[0, 1\]/],
    [{ ...GOOD, servicePorts: [{ ...port, retryBudget: { ratio: 0.2, minPerSecond: 1, ttlMs: 1 } }] }, /available a number/],
    [{ ...GOOD, adaptiveLimits: [{ workload: 'w', port: 70_000, limit: 1 }] }, /adaptiveLimits\[0\]: port must be a port number/],
    [{ ...GOOD, adaptiveLimits: [{ workload: 'w', port: 80, limit: -1 }] }, /limit must be a count/],
    [{ ...GOOD, adaptiveLimits: [{ workload: 42, port: 80, limit: 1 }] }, /workload must be a short string/],
  ];
  for (const [value, why] of cases) {
    const got = parseProcessResilience(value);
    t.type(got, 'string', JSON.stringify(value)?.slice(0, 80));
    t.match(got, why);
  }
});

t.test('an answer past the row bound is refused without reading its rows', async (t) => {
  const many = new Array(MAX_RESILIENCE_ROWS + 1).fill(null);
  t.match(parseProcessResilience({ ...GOOD, servicePorts: many }), new RegExp(`servicePorts: ${MAX_RESILIENCE_ROWS + 1} rows, more than ${MAX_RESILIENCE_ROWS}`));
  t.match(parseProcessResilience({ ...GOOD, adaptiveLimits: many }), /adaptiveLimits: \d+ rows, more than/);
  const atBound = new Array(MAX_RESILIENCE_ROWS).fill({ workload: 'w', port: 80, limit: 1 });
  const ok = parseProcessResilience({ ...GOOD, adaptiveLimits: atBound });
  t.type(ok, 'object', 'exactly the bound passes');
});

t.test('the worker merge: malformed answers are reported and left out, the others in pid order', async (t) => {
  const refused: string[] = [];
  const merged = mergeWorkerResilience([{ ...GOOD, worker: 9 }, 'garbage', { ...GOOD, worker: 3 }, { ...GOOD, worker: 5, servicePorts: [{ servicePort: 1 }] }], (why) => refused.push(why));
  t.same(merged.map((b) => b.worker), [3, 9]);
  t.same(refused, ['not an object', 'servicePorts[0]: servicePort must be a short string']);
  t.same(mergeWorkerResilience([], () => t.fail('nothing to refuse')), []);
});
