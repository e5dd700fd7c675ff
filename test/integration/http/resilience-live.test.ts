/**
 * `/resilience`'s live block from a real source side: requests held at endpoints show as
 * requests in flight against the breaker's threshold, the retry budget appears once a request
 * ran under a retry policy, and the counters fall back to zero when the requests end.
 */
import t from 'tap';
import type { OutboundHttp } from '../../../src/agent/http/outbound-http.js';
import { InboundGate } from '../../../src/agent/http/inbound-gate.js';
import { parseProcessResilience, processResilience, type ProcessResilience } from '../../../src/agent/admin/resilience-rows.js';
import { resilienceView } from '../../../src/agent/admin/resilience-view.js';
import type { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import { DEFAULT_RETRY_BUDGET } from '../../../src/mesh/resilience.js';
import { ResilienceRig } from './resilience-rig.js';

/** The live block of the rig's OutboundHttp (private there: the rig drives it through real client connections). */
function blockOf(rig: ResilienceRig): ProcessResilience {
  const outboundHttp = (rig as unknown as { http7: OutboundHttp }).http7;
  return processResilience({ outboundHttp, inboundHttp: { gate: new InboundGate() } }, process.pid);
}

t.test('requests in flight and the retry budget at one process, then back to zero', async (t) => {
  const breaker = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 8, maxRetries: 3 };
  const retry = { retries: 2, triggers: ['5xx' as const], statusCodes: [], perTryTimeoutMs: 0, backoffBaseMs: 1, backoffMaxMs: 2, nonIdempotent: false, bufferBytes: 1024 };
  const rig = new ResilienceRig({ policy: { circuitBreaker: breaker, retry, retryBudget: DEFAULT_RETRY_BUDGET } });
  await rig.start();
  t.teardown(() => rig.close());
  // Held long enough for a busy machine; the block is read once all three reached an endpoint.
  rig.behaviour = () => ({ kind: 'status', status: 200, delayMs: 2000 });
  const held = Array.from({ length: 3 }, () => rig.request('/'));
  while (rig.calls.length < 3) await new Promise((r) => setTimeout(r, 10));
  const during = blockOf(rig);
  t.equal(during.servicePorts.length, 1);
  const port = during.servicePorts[0];
  t.equal(port?.servicePort, 'demo/web|80');
  t.equal(port?.requests, 3, 'three requests in flight');
  t.equal(port?.retryBudget?.ratio, DEFAULT_RETRY_BUDGET.ratio);
  t.type(port?.retryBudget?.available, 'number');
  t.type(parseProcessResilience(JSON.parse(JSON.stringify(during))), 'object', 'the block passes the primary\'s check after a trip through JSON');
  const view = resilienceView((rig as unknown as { index: WorkloadIndex }).index.snapshot, [during]);
  t.same(view.servicePorts.map((r) => `${r.servicePort} ${r.requests}`), ['demo/web|80 3']);
  t.same(view.services.find((s) => s.service === 'demo/web')?.sections.circuitBreaker, breaker);
  t.same((await Promise.all(held)).map((r) => r.status), [200, 200, 200]);
  const after = blockOf(rig);
  t.equal(after.servicePorts[0]?.requests, 0, 'nothing in flight once they ended');
  t.equal(after.servicePorts[0]?.retries, 0);
});
