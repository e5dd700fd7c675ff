/**
 * Distributed tracing end to end in a lab (issue 15): two nodes with real agents, capture and
 * tunnels; a client pod on node1 calls a server pod on node2 through a Service port declared
 * `appProtocol: http`; a Telemetry object sends the agents' spans by OTLP/HTTP to a collector
 * sink in an unmeshed pod (`bench/tracing-sink.ts`, which decodes every export with the
 * official opentelemetry-proto definitions). For a request with a W3C `traceparent`, one with
 * a B3 single header, one with B3 multi headers and one with none: the sink gets a CLIENT span
 * from the source agent and a SERVER span from the destination agent in the caller's trace,
 * the SERVER span's parent is the CLIENT span, the CLIENT span's parent is the caller's span,
 * and the server pod gets the trace continued with the SERVER span as its parent. An unsampled
 * caller's trace goes on unsampled, with no span. The destination agent runs two data-path
 * workers, and its OpenMetrics scrape (summed over the workers) carries a sampled request's trace
 * as the exemplar of its duration bucket.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { withLab, defaultAgentCommand, REPO_ROOT, type LabTopology } from '../../../src/lab/index.js';
import { TracingSink } from '../../../bench/tracing-sink-client.js';
import type { ReceivedSpan } from '../../helpers/otlp-receiver.js';
import { requireNamespaces } from '../helpers/require-root.js';
import { nextJsonLine, peer, requestLines, until, type Json } from './l7-lab.js';

// A lab, two agents and a few requests; spans leave in batches every 5 s. Every wait below is
// bounded well inside this, so that a hang still ends in the lab's teardown.
t.setTimeout(300_000);

const TRACING_PEER = join(REPO_ROOT, 'dist/test/e2e/datapath/tracing-peer.js');
/** The agents export a partial batch after 5 s (docs/tracing.md); a loaded machine gets far more. */
const SPANS_WAIT_MS = 45_000;
/** One request through both agents: milliseconds, or seconds on a loaded machine. */
const REQUEST_WAIT_MS = 20_000;
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

const topology: LabTopology = {
  name: `tr${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [
    { name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } },
    { name: 'obs', labels: {} },
  ],
  pods: [
    { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
    { name: 'web', namespace: 'demo', node: 'node2', serviceAccount: 'web', labels: { app: 'web' } },
    // The collector: outside the mesh, as docs/tracing.md advises (the agents export untunnelled).
    { name: 'collector', namespace: 'obs', node: 'node2', labels: { app: 'collector' } },
  ],
  services: [{ name: 'web', namespace: 'demo', selector: { app: 'web' }, ports: [{ name: 'api', port: 80, targetPort: 8080, appProtocol: 'http' }] }],
};

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** The spans of `traceId` once both arrived (bounded). */
async function spansOf(sink: TracingSink, traceId: string, n = 2): Promise<ReceivedSpan[]> {
  let found: ReceivedSpan[] = [];
  await until(async () => {
    found = (await sink.spans()).filter((s) => s.traceId === traceId);
    return found.length >= n;
  }, SPANS_WAIT_MS);
  return found;
}

/** The `traceparent` the server pod got, split: version, trace id, parent id, flags. */
function traceparentOf(answer: Json): string[] {
  const body = answer['body'] as Json | undefined;
  const tp = (body?.['trace'] as Json | undefined)?.['traceparent'];
  return typeof tp === 'string' ? tp.split('-') : [];
}

t.test('tracing through two agents: a CLIENT and a SERVER span, W3C and B3 continued', async (t) => {
  if (!requireNamespaces(t)) return;
  // node2's agent runs two data-path workers: its scrape is their sum.
  const agentCommand = (node: string, ctx: Parameters<typeof defaultAgentCommand>[1]): ReturnType<typeof defaultAgentCommand> => {
    const base = defaultAgentCommand(node, ctx);
    return node === 'node2' ? { ...base, args: [...base.args, '--workers', '2'] } : base;
  };
  /** Sampled traces that went through both agents. */
  const sampled: string[] = [];
  await withLab(topology, { agents: false, agentCommand }, async (lab) => {
    const sink = await TracingSink.start(lab, 'collector', lab.podAddress('collector'), { decode: true });
    t.teardown(() => sink.stop());
    lab.writeConfig('telemetry.yaml', `apiVersion: meshlet.io/v1alpha1
kind: Telemetry
metadata: {name: tracing, namespace: demo}
spec:
  tracing: {collector: "${sink.url}", samplingPercentage: 100}
`);
    for (const node of ['node1', 'node2']) await lab.startAgent(node);
    const server = lab.spawnNode('web', TRACING_PEER, ['web']);
    const ready = await nextJsonLine(server, 15_000);
    t.equal(ready['listening'], 8080, 'the server pod listens');
    const url = (path: string): string => `http://${lab.serviceVip('demo', 'web')}:80${path}`;

    /** One request with `headers` (bounded: a hang is a failure, not a timeout of the whole test). */
    const call = async (t: Test, path: string, headers: string[]): Promise<Json> => {
      const r = await peer(lab, 'client', ['once', 'GET', url(path), ...headers], REQUEST_WAIT_MS).catch((err: unknown) => ({ ok: false, error: (err as Error).message.slice(0, 300) }) as Json);
      t.equal(r['status'], 200, `${path}: answered through both agents (${JSON.stringify(r).slice(0, 300)})`);
      return r;
    };

    /** The span pair of one trace: the CLIENT span's parent, the SERVER span's parent is the CLIENT span, what the pod saw. */
    const checkPair = async (t: Test, traceId: string, callerSpan: string | undefined, answer: Json, path: string): Promise<ReceivedSpan | undefined> => {
      if (answer['status'] !== 200) return undefined; // failed above: no spans to wait for
      const spans = await spansOf(sink, traceId);
      t.equal(spans.length, 2, `two spans in trace ${traceId}`);
      const client = spans.find((s) => s.kind === SPAN_KIND_CLIENT);
      const server = spans.find((s) => s.kind === SPAN_KIND_SERVER);
      t.equal(client?.resource['k8s.node.name'], 'node1', 'the CLIENT span comes from the source agent');
      t.equal(server?.resource['k8s.node.name'], 'node2', 'the SERVER span comes from the destination agent');
      t.equal(client?.parentSpanId, callerSpan ?? '', callerSpan === undefined ? 'a new trace: the CLIENT span is its root' : "the CLIENT span's parent is the caller's span");
      t.not(client?.spanId, undefined, 'the CLIENT span has an id');
      t.equal(server?.parentSpanId, client?.spanId, "the SERVER span's parent is the CLIENT span");
      t.equal(client?.attributes['http.request.method'], 'GET');
      t.equal(server?.attributes['url.path'], path);
      t.equal(server?.attributes['http.response.status_code'], 200);
      t.equal(client?.attributes['meshlet.source.workload'], 'client');
      t.equal(server?.attributes['meshlet.destination.workload'], 'web');
      t.equal(client?.attributes['meshlet.service'], 'demo/web');
      const [version, podTrace, podParent, flags] = traceparentOf(answer);
      t.same([version, podTrace, flags], ['00', traceId, '01'], 'the server pod got the trace, sampled, in a traceparent');
      t.equal(podParent, server?.spanId, "the server pod's parent is the SERVER span");
      const line = await until(() => requestLines(lab, 'node1', path).length === 1);
      t.ok(line, `node1 logged the request ${path}`);
      t.equal(requestLines(lab, 'node1', path)[0]?.['trace_id'], traceId, "the source agent's access log names the trace");
      if (server !== undefined) sampled.push(traceId);
      return server;
    };

    await t.test('W3C traceparent (and tracestate) continued', async (t) => {
      const trace = hex(16);
      const caller = hex(8);
      const path = `/w3c-${hex(4)}`;
      const answer = await call(t, path, [`traceparent:00-${trace}-${caller}-01`, 'tracestate:vendor=abc']);
      await checkPair(t, trace, caller, answer, path);
      t.equal(((answer['body'] as Json)['trace'] as Json)['tracestate'], 'vendor=abc', 'tracestate passed on unchanged');
    });

    await t.test('B3 single header: read, continued, written back in B3', async (t) => {
      const trace = hex(16);
      const caller = hex(8);
      const path = `/b3-${hex(4)}`;
      const answer = await call(t, path, [`b3:${trace}-${caller}-1`]);
      const server = await checkPair(t, trace, caller, answer, path);
      const b3 = String(((answer['body'] as Json)['trace'] as Json)['b3'] ?? '').split('-');
      t.same([b3[0], b3[1], b3[2]], [trace, server?.spanId, '1'], 'the server pod got b3 with the trace and the SERVER span');
    });

    await t.test('B3 multi headers: read, continued, written back in the same form', async (t) => {
      const trace = hex(16);
      const caller = hex(8);
      const path = `/b3multi-${hex(4)}`;
      const answer = await call(t, path, [`x-b3-traceid:${trace}`, `x-b3-spanid:${caller}`, 'x-b3-sampled:1']);
      const server = await checkPair(t, trace, caller, answer, path);
      const seen = (answer['body'] as Json)['trace'] as Json;
      t.same([seen['x-b3-traceid'], seen['x-b3-spanid'], seen['x-b3-sampled']], [trace, server?.spanId, '1'], 'the server pod got x-b3-* with the SERVER span');
    });

    await t.test('an unsampled caller (-00): its trace goes on unsampled, and no span is made', async (t) => {
      const trace = hex(16);
      const caller = hex(8);
      const path = `/unsampled-${hex(4)}`;
      const answer = await call(t, path, [`traceparent:00-${trace}-${caller}-00`]);
      const [version, podTrace, podParent, flags] = traceparentOf(answer);
      t.same([version, podTrace, flags], ['00', trace, '00'], 'the server pod got the trace, unsampled: the caller\'s decision is kept at 100%');
      t.match(podParent, /^[0-9a-f]{16}$/, 'with a parent id of the destination agent');
      t.not(podParent, caller, 'not the caller\'s own span id: the agents are in the trace');
      t.ok(await until(() => requestLines(lab, 'node1', path).length === 1), `node1 logged the request ${path}`);
      t.equal(requestLines(lab, 'node1', path)[0]?.['trace_id'], trace, 'the access log names the trace all the same');
      // A sampled request after it: once its spans are in, a wrongly made span of the unsampled one would
      // most likely be too (each exporter sends in order; another worker of the agent has its own, also on a 5 s clock).
      const later = hex(16);
      const laterPath = `/after-unsampled-${hex(4)}`;
      const marker = await call(t, laterPath, [`traceparent:00-${later}-${hex(8)}-01`]);
      if (marker['status'] === 200) {
        t.equal((await spansOf(sink, later)).length, 2, 'the sampled request that followed was exported');
        sampled.push(later);
      }
      t.same((await sink.spans()).filter((x) => x.traceId === trace), [], 'no span of the unsampled trace');
    });

    await t.test('no trace header: the source agent starts a trace', async (t) => {
      const path = `/new-${hex(4)}`;
      const answer = await call(t, path, []);
      const [, trace] = traceparentOf(answer);
      t.match(trace, /^[0-9a-f]{32}$/, 'the server pod got a new trace id');
      if (trace !== undefined) await checkPair(t, trace, undefined, answer, path);
    });

    await t.test("the destination agent's OpenMetrics scrape, summed over its two workers, has a sampled trace as an exemplar", async (t) => {
      const scrape = await peer(lab, 'node2', ['metrics', `http://${lab.nodeAddress('node2')}:15020/metrics`, 'istio_request_duration_milliseconds_bucket', 'application/openmetrics-text; version=1.0.0']);
      const lines = (scrape['lines'] as string[] | undefined) ?? [];
      t.ok(lines.length > 0, `the scrape has the duration buckets (${JSON.stringify(scrape).slice(0, 200)})`);
      const exemplars = lines.filter((l) => l.includes('reporter="destination"')).flatMap((l) => /# \{trace_id="([0-9a-f]{32})"/.exec(l)?.[1] ?? []);
      t.ok(exemplars.length > 0, 'a destination bucket carries an exemplar');
      t.ok(exemplars.every((id) => sampled.includes(id)), `each exemplar is a sampled trace of this test (${exemplars.join(', ')})`);
    });

    // On a failure, what the agents said (not their access lines), before the lab and its logs go.
    if (!t.passing()) {
      for (const node of ['node1', 'node2']) {
        const lines = lab.agentLog(node).split('\n').filter((l) => l !== '' && !l.includes('"request completed"'));
        t.comment(`${node} agent log, last lines:\n${lines.slice(-15).map((l) => l.slice(0, 400)).join('\n')}`);
      }
    }
  });
});
