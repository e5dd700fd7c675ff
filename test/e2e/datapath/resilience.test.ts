/**
 * Resilience end to end (issue 13): real agents, capture and tunnels. The client on node1 sends
 * real HTTP/1.1 to Service `web`, whose three pods run on node2; TrafficPolicies and routes are
 * written into the lab's config while the agents run. The servers (`resilience-peer.ts`) count
 * what reaches them and take their behaviour (fail a share, delay, hang, reset POSTs) from stdin,
 * so every figure is checked where it happens: retries at the servers, errors at the client.
 */
import t from 'tap';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { loadStaticSnapshot } from '../../../src/cli/static-source.js';
import { defaultAgentCommand, REPO_ROOT, withLab, type Lab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';
import { lineReader, logLines, until, type Json } from './l7-lab.js';

t.setTimeout(420_000);

const PEER = join(REPO_ROOT, 'dist/test/e2e/datapath/resilience-peer.js');
const TD = 'cluster.local';
const WEB = ['web1', 'web2', 'web3'];

const topology: LabTopology = {
  name: `rs${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [{ name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
    ...WEB.map((name) => ({ name, namespace: 'demo', node: 'node2', serviceAccount: 'web', labels: { app: 'web' } })),
    { name: 'shadow', namespace: 'demo', node: 'node2', serviceAccount: 'shadow', labels: { app: 'shadow' } },
  ],
  services: [
    { name: 'web', namespace: 'demo', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    { name: 'shadow', namespace: 'demo', selector: { app: 'shadow' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  ],
};

/** A TrafficPolicy for `web` with `spec` (YAML lines under spec, after targetRefs). */
const trafficPolicy = (spec: string, name = 'web-policy'): string =>
  `apiVersion: meshlet.io/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: ${name}, namespace: demo}\nspec:\n  targetRefs: [{group: "", kind: Service, name: web}]\n${spec.replace(/^/gm, '  ')}\n`;

/** The access-log request lines of a node's agent that `pred` accepts. */
const requestLines = (lab: Lab, node: string, pred: (l: Json) => boolean): Json[] => logLines(lab, node, 'request completed').filter(pred);

interface Server {
  readonly child: ChildProcess;
  readonly lines: ReturnType<typeof lineReader>;
}

t.test('resilience through two agents: retries, ejection, a dead endpoint, budget, hedging, breaker, faults, mirroring, timeouts, bad input', async (t) => {
  if (!requireNamespaces(t)) return;
  // The source agent runs one data-path process: its thresholds, budget and latency window are
  // per process (docs/resilience.md), and the figures below are that process's. The destination
  // agent runs two workers.
  const workers: Readonly<Record<string, number>> = { node1: 1, node2: 2 };
  const agentCommand = (node: string, ctx: Parameters<typeof defaultAgentCommand>[1]): ReturnType<typeof defaultAgentCommand> => {
    const base = defaultAgentCommand(node, ctx);
    return { ...base, args: [...base.args, '--workers', String(workers[node] ?? 1)] };
  };
  await withLab(topology, { agentCommand }, async (lab) => {
    const servers = new Map<string, Server>();
    const start = async (pod: string): Promise<void> => {
      const child = lab.spawnNode(pod, PEER, ['serve', pod, '8080'], { stdio: ['pipe', 'pipe', 'pipe'] });
      const lines = lineReader(child);
      const first = await lines.nextJson(20_000);
      if (first['listening'] !== 8080) throw new Error(`${pod}: ${JSON.stringify(first)}`);
      servers.set(pod, { child, lines });
    };
    // Independent pods: started at once (each resolves when its own server listens).
    await Promise.all([...WEB, 'shadow'].map(start));
    const tell = async (pod: string, line: string): Promise<Json> => {
      const s = servers.get(pod);
      if (s === undefined) throw new Error(`no server ${pod}`);
      s.child.stdin?.write(`${line}\n`);
      return s.lines.nextJson(10_000);
    };
    const set = async (pods: readonly string[], behaviour: Json): Promise<void> => {
      for (const pod of pods) await tell(pod, `set ${JSON.stringify(behaviour)}`);
    };
    const counts = async (pods: readonly string[]): Promise<Record<string, number>> => {
      const out: Record<string, number> = {};
      for (const pod of pods) out[pod] = Number((await tell(pod, 'count'))['count']);
      return out;
    };
    const resetCounts = async (): Promise<void> => {
      for (const pod of servers.keys()) await tell(pod, 'reset');
    };
    const sum = (c: Record<string, number>): number => Object.values(c).reduce((a, b) => a + b, 0);
    const url = `http://${lab.serviceVip('demo', 'web')}/`;
    const load = async (n: number, conc: number, extra: string[] = [], path = '/'): Promise<Json> => {
      const r = await lab.runNode('client', PEER, ['load', url.replace(/\/$/, path), String(n), String(conc), ...extra], { timeoutMs: 120_000 });
      try {
        return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Json;
      } catch {
        return { error: `load printed ${JSON.stringify(r.stdout)} ${JSON.stringify(r.stderr)}` };
      }
    };
    const status = (r: Json, code: number): number => Number((r['statuses'] as Record<string, number> | undefined)?.[String(code)] ?? 0);
    const apply = async (file: string, text: string): Promise<void> => {
      lab.writeConfig(file, text);
      await applied();
    };
    const applied = async (): Promise<void> => {
      const nodes = ['node1', 'node2'];
      const want = await Promise.all(nodes.map(async (n) => (await loadStaticSnapshot(lab.paths.configDir, n, TD)).version));
      const ok = await until(() => nodes.every((n, i) => logLines(lab, n, 'snapshot applied').at(-1)?.['version'] === want[i]), 20_000);
      if (!ok) throw new Error(`snapshot ${want.join(', ')} not applied within 20 s: ${lab.agentLog('node1').slice(-3000)}`);
    };

    // Baseline: the mesh serves the Service.
    t.ok(await until(async () => status(await load(3, 1), 200) === 3, 20_000), 'baseline: client reaches web');

    await t.test('one endpoint fails half its requests: with retries the client sees none', async (t) => {
      await apply('policy.yaml', trafficPolicy('retry:\n  numRetries: 2\n  retryOn: {triggers: [gateway-error, connect-failure]}\n  perRetry: {backOff: {baseInterval: 5ms}}'));
      await set(['web1'], { fail: 50 });
      await resetCounts();
      const r = await load(600, 8);
      const c = await counts(WEB);
      t.equal(status(r, 200), 600, `every request answered 200 (${JSON.stringify(r['statuses'])})`);
      t.ok(sum(c) > 600, `the servers saw the retries: ${JSON.stringify(c)}`);
      t.ok(sum(c) <= 600 * 1.2 + 100, `retries within the default budget: ${sum(c)} tries`);
      const retried = requestLines(lab, 'node1', (l) => typeof l['attempts'] === 'number');
      t.ok(retried.length > 0, `the source agent's access log shows the attempts (${retried.length} lines)`);
      await set(['web1'], { fail: 0 });
    });

    await t.test('a dead endpoint mid-load: no failed GET; a POST is not retried after its body was sent', async (t) => {
      await apply('policy.yaml', trafficPolicy('retry:\n  numRetries: 2\n  retryOn: {triggers: [connect-failure, reset, gateway-error]}\n  perRetry: {backOff: {baseInterval: 5ms}}'));
      const running = load(3000, 8);
      await new Promise((r) => setTimeout(r, 1500));
      servers.get('web3')?.child.kill('SIGKILL');
      const r = await running;
      t.equal(status(r, 200), 3000, `all 3,000 GETs answered 200 with web3 killed mid-load (${JSON.stringify(r['statuses'])}, errors ${String(r['errors'])})`);
      t.equal(r['errors'], 0);
      await start('web3');
      await set(['web1'], { resetPost: true });
      await resetCounts();
      const posts = await load(60, 1, ['POST', '100']);
      const c = await counts(WEB);
      const failed = 60 - status(posts, 200);
      t.ok(failed > 0, `POSTs that met the reset failed (${JSON.stringify(posts['statuses'])})`);
      t.equal(sum(c), 60, `each POST reached one server once, none was sent again: ${JSON.stringify(c)}`);
      t.equal(c['web1'], failed, 'the failures are exactly the POSTs web1 reset');
      await set(['web1'], {});
    });

    await t.test('the retry budget: every endpoint fails, attempts stay within its ratio', async (t) => {
      await apply('policy.yaml', trafficPolicy('retry:\n  numRetries: 3\n  retryOn: {triggers: [5xx]}\n  perRetry: {backOff: {baseInterval: 1ms}}\n  budget: {percent: 20, minRetriesPerSecond: 1, ttl: 10s}'));
      await set(WEB, { fail: 100 });
      await resetCounts();
      const n = 500;
      const mark = logLines(lab, 'node1', 'request completed').length;
      const r = await load(n, 10);
      const c = await counts(WEB);
      t.equal(status(r, 503), n, 'every request failed');
      await until(() => logLines(lab, 'node1', 'request completed').length >= mark + n, 5000);
      const lines = logLines(lab, 'node1', 'request completed').slice(mark);
      const tries = lines.reduce((a, l) => a + (typeof l['attempts'] === 'number' ? l['attempts'] : 1), 0);
      const destLines = logLines(lab, 'node2', 'request completed').filter((l) => l['reporter'] === 'destination').length;
      // The budget is per source agent process: 20% of the requests plus the 10-retry reserve.
      t.ok(sum(c) <= n * 1.2 + 10 + 2, `${sum(c)} attempts at the servers for ${n} requests (at most 1.2x + 10); the source agent logged ${lines.length} requests and ${tries} tries; node2 has ${destLines} destination lines in all`);
      t.ok(sum(c) > n, `${sum(c)} attempts: retries were made while the budget lasted`);
      await set(WEB, {});
    });

    await t.test('outlier ejection removes an endpoint that fails every request, and brings it back', async (t) => {
      await apply('policy.yaml', trafficPolicy('healthCheck:\n  passive: {consecutive5XxErrors: 3, interval: 1s, baseEjectionTime: 3s, maxEjectionPercent: 50}'));
      await set(['web1'], { fail: 100 });
      await resetCounts();
      const r = await load(90, 1);
      const c = await counts(WEB);
      t.equal(c['web1'], 3, `web1 got exactly its 3 consecutive errors before ejection (${JSON.stringify(c)})`);
      t.equal(status(r, 503), 3, 'the client saw those 3');
      await set(['web1'], {});
      // Back after the ejection time and the next interval (3 s + 1 s): polled with 60 requests
      // at a time until 8 s, where a fixed 4.5 s wait was.
      let back: Record<string, number> = {};
      await until(async () => {
        await resetCounts();
        await load(60, 1);
        back = await counts(WEB);
        return (back['web1'] ?? 0) > 10;
      }, 8_000);
      t.ok((back['web1'] ?? 0) > 10, `back in rotation after the ejection time (${JSON.stringify(back)})`);
    });

    await t.test('hedging lowers the p99 with one slow endpoint, its extra requests within the budget', async (t) => {
      // web1 answers after SLOW ms: without hedging a third of the requests wait that long; with
      // it, none should (the hedge to another endpoint answers first). The bound is the slow
      // answer itself, not a figure of this machine's speed (a loaded CI machine is slow).
      const SLOW = 1000;
      await apply('policy.yaml', trafficPolicy('retry:\n  numRetries: 0\n  budget: {percent: 50, minRetriesPerSecond: 10, ttl: 10s}'));
      await set(['web1'], { delayMs: SLOW });
      const plain = await load(150, 6);
      await apply('policy.yaml', trafficPolicy('hedging: {percentile: 50, minDelay: 20ms}\nretry:\n  numRetries: 0\n  budget: {percent: 50, minRetriesPerSecond: 10, ttl: 10s}'));
      await load(60, 4);
      await resetCounts();
      const hedged = await load(150, 6);
      const c = await counts(WEB);
      t.ok(Number(plain['p99']) >= SLOW, `without hedging p99 ${String(plain['p99'])} ms (the slow endpoint)`);
      t.ok(Number(hedged['p99']) < SLOW, `with hedging p99 ${String(hedged['p99'])} ms: no request waited for the slow endpoint`);
      t.ok(sum(c) > 150, `hedges were sent (${sum(c)} tries)`);
      t.ok(sum(c) <= 150 * 1.5 + 100, `${sum(c)} tries for 150 requests: within the budget (50% + 100)`);
      t.equal(status(hedged, 200), 150);
      await set(['web1'], {});
    });

    await t.test('circuit breaker: with max parallel requests N, request N+1 gets 503/UO at once', async (t) => {
      await apply('policy.yaml', trafficPolicy('circuitBreaker: {maxParallelRequests: 4}'));
      await set(WEB, { delayMs: 1500 });
      // Five at once: four are in flight for 1.5 s when the fifth arrives.
      const mark = logLines(lab, 'node1', 'request completed').length;
      const r = await load(5, 5);
      await until(() => logLines(lab, 'node1', 'request completed').length >= mark + 5, 5000);
      const seen = logLines(lab, 'node1', 'request completed').slice(mark).map((l) => `${String(l['status'])} ${String(l['response_flags'])} ${String(l['duration_ms'])} ${String(l['service'])}`);
      t.equal(status(r, 503), 1, `the fifth request refused (${JSON.stringify(r)}; source lines: ${seen.join(' | ')})`);
      t.equal((r['flags'] as Json | undefined)?.['overflow'], 1, 'x-meshlet-failure: overflow');
      t.ok(Number(r['min']) < 1000, `at once, not after the 1.5 s the admitted take: ${String(r['min'])} ms`);
      t.equal(status(r, 200), 4, 'the four admitted were served');
      const line = requestLines(lab, 'node1', (l) => l['response_flags'] === 'UO').at(-1);
      t.equal(line?.['overflow'], 'max_requests', 'the access log names the threshold');
      await set(WEB, {});
    });

    await t.test('adaptive concurrency: a server that slows under load gets its concurrency cut; admitted requests stay fast', async (t) => {
      // Each pod answers in 30 ms per request in flight: 33 answers/s each however many wait,
      // 100/s for the three. 150/s offered (open loop) for 5 s: without a limit the backlog grows
      // and so does every answer's time; with one, the excess is refused and the rest stay fast.
      // (A low rate: the agents themselves must not be what queues, on a slow CI machine too.)
      const rate = async (): Promise<Json> => {
        const r = await lab.runNode('client', PEER, ['rate', url, '5', '150', '600'], { timeoutMs: 120_000 });
        try {
          return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Json;
        } catch {
          return { error: `rate printed ${JSON.stringify(r.stdout)} ${JSON.stringify(r.stderr)}` };
        }
      };
      await apply('policy.yaml', trafficPolicy('retry: {numRetries: 0}'));
      await set(WEB, { loadDelayMs: 30 });
      const plain = await rate();
      await apply('policy.yaml', trafficPolicy('retry: {numRetries: 0}\nadaptiveConcurrency: {sampleInterval: 100ms, percentile: 90, minRTTInterval: 60s, minRTTRequests: 20, bufferPercent: 50, minConcurrency: 2, maxConcurrency: 500}'));
      const limited = await rate();
      t.ok(Number(plain['okP99']) >= 1000, `without the limit the backlog grows: p99 ${String(plain['okP99'])} ms (${JSON.stringify(plain['statuses'])})`);
      t.ok(status(limited, 503) > 0, `with it, requests over the limit are refused at once (${JSON.stringify(limited['statuses'])})`);
      t.ok(Number(limited['okP99']) < Number(plain['okP99']) / 2, `admitted requests' p99 ${String(limited['okP99'])} ms < half of ${String(plain['okP99'])} ms`);
      t.ok(Number(limited['okP99']) < 500, `and bounded: ${String(limited['okP99'])} ms`);
      const m = await lab.runNode('node2', PEER.replace('resilience-peer', 'http-peer'), ['metrics', `http://${lab.nodeAddress('node2')}:15020/metrics`, 'meshlet_adaptive_concurrency_limit'], { timeoutMs: 20_000 });
      t.match(m.stdout, /meshlet_adaptive_concurrency_limit\{/, 'the limits in force are exported');
      await set(WEB, {});
    });

    await t.test('fault injection: 10% aborts within 1.5%, a 200 ms delay, header scope', async (t) => {
      await apply('policy.yaml', trafficPolicy('faultInjection:\n  abort: {httpStatus: 418, percentage: 10}'));
      const r = await load(5000, 16);
      const share = status(r, 418) / 5000;
      t.ok(Math.abs(share - 0.1) <= 0.015, `${status(r, 418)} of 5,000 aborted (${(share * 100).toFixed(2)}%)`);
      t.equal(status(r, 200) + status(r, 418), 5000, 'the others were served');
      await apply('policy.yaml', trafficPolicy('faultInjection:\n  delay: {fixedDelay: 500ms, percentage: 100}\n  headers: [{name: x-chaos, value: "on"}]'));
      const delayed = await load(5, 1, ['GET', '0', 'x-chaos:on']);
      const plain = await load(5, 1);
      t.ok(Number(delayed['min']) >= 500, `with the header: every request delayed (min ${String(delayed['min'])} ms)`);
      t.ok(Number(delayed['p50']) < 500 + 50 + Number(plain['max']), `by about 500 ms (p50 ${String(delayed['p50'])} ms; undelayed max ${String(plain['max'])} ms)`);
      t.ok(Number(plain['max']) < 500, `without it: not delayed (max ${String(plain['max'])} ms)`);
    });

    await t.test('mirroring: the shadow gets its share, a slow shadow does not slow the primary', async (t) => {
      await apply('policy.yaml', trafficPolicy('retry: {numRetries: 0}'));
      lab.writeConfig('mirror.yaml', [
        'apiVersion: gateway.networking.k8s.io/v1', 'kind: HTTPRoute', 'metadata: {name: web-mirror, namespace: demo}', 'spec:',
        '  parentRefs: [{group: "", kind: Service, name: web, port: 80}]', '  rules:', '  - filters:',
        '    - type: RequestMirror', '      requestMirror: {backendRef: {name: shadow, port: 80}, percent: 50}',
        '    backendRefs: [{name: web, port: 80}]', '',
      ].join('\n'));
      await applied();
      // The shadow answers after 1 s: a primary that waited for it would take that long.
      await set(['shadow'], { delayMs: 1000 });
      await resetCounts();
      const r = await load(400, 8);
      await new Promise((r) => setTimeout(r, 1500));
      const c = await counts(['shadow']);
      t.ok(Math.abs((c['shadow'] ?? 0) / 400 - 0.5) <= 0.1, `the shadow got ${c['shadow'] ?? 0} of 400 (50% +-10%)`);
      t.ok(Number(r['p99']) < 1000, `primary p99 ${String(r['p99'])} ms with a 1 s shadow: no request waited for it`);
      lab.writeConfig('mirror.yaml', '');
      await applied();
      await set(['shadow'], {});
    });

    await t.test('timeouts fire at their setting: within 50 ms plus what an answered request takes here', async (t) => {
      // A loaded machine delays every answer, the timed-out ones too: the lateness allowed is
      // 50 ms plus the slowest of a few answered requests measured just before.
      await apply('policy.yaml', trafficPolicy('timeout: {http: {requestTimeout: 300ms}}\nretry: {numRetries: 0}'));
      const base = Number((await load(5, 1))['max']);
      await set(WEB, { hang: true });
      const r = await load(3, 1);
      t.equal(status(r, 504), 3, 'answered 504');
      t.ok(Number(r['p50']) >= 300, `not before the setting: ${String(r['p50'])} ms`);
      t.ok(Number(r['p50']) <= 300 + 50 + base, `after ${String(r['p50'])} ms (300, +50 +${base} ms an answer takes here)`);
      const line = requestLines(lab, 'node1', (l) => l['status'] === 504).at(-1);
      t.equal(line?.['response_flags'], 'UT');
      await apply('policy.yaml', trafficPolicy('retry:\n  numRetries: 2\n  retryOn: {triggers: [gateway-error]}\n  perRetry: {timeout: 100ms, backOff: {baseInterval: 1ms}}'));
      await set(WEB, {});
      await set(['web1'], { hang: true });
      await resetCounts();
      const per = await load(30, 1);
      t.equal(status(per, 200), 30, 'the per-try timeout moved each request on web1 to another endpoint');
      t.ok(Number(per['max']) >= 100, `the slowest took the per-try timeout (${String(per['max'])} ms)`);
      t.ok(Number(per['max']) < 200 + base, `and one per-try timeout only, not two (${String(per['max'])} ms; an answer takes ${base} ms here)`);
      await set(['web1'], {});
    });

    await t.test('bad input: an invalid TrafficPolicy is refused naming the field; the previous one stays in force', async (t) => {
      await apply('policy.yaml', trafficPolicy('faultInjection:\n  abort: {httpStatus: 418, percentage: 100}'));
      t.equal(status(await load(3, 1), 418), 3, 'the valid policy is in force');
      const before = logLines(lab, 'node1', 'snapshot applied').length;
      lab.writeConfig('policy.yaml', trafficPolicy('faultInjection:\n  abort: {httpStatus: 418, percentage: 250}'));
      t.ok(await until(() => lab.agentLog('node1').includes('percentage'), 20_000), 'the agent logged the problem, naming the field');
      t.equal(logLines(lab, 'node1', 'snapshot applied').length, before, 'no new snapshot applied');
      t.equal(status(await load(3, 1), 418), 3, 'the previous policy is still in force');
      lab.writeConfig('policy.yaml', '');
      await applied();
    });
  });
});

