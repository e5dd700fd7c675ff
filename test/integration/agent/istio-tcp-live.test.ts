/**
 * Bytes counted as they flow, through a running agent: a long tunnel connection's
 * `istio_tcp_*` byte series grow at two scrapes while it is open, and after its close the
 * totals are exactly the bytes sent and received; its labels name the two workloads'
 * identities. The same with two data-path workers (each counts in its own registry, the
 * primary sums at scrape). Then the metrics port's other path and format on the same agent:
 * `/stats/prometheus` answers the families of `/metrics`, and OpenMetrics when asked.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import type { ClientHttp2Stream } from 'node:http2';
import { adminRig, CLIENT_ID, readAll, SERVER_ID, status } from './admin-rig.js';

/** Prometheus' default `Accept`. */
const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

/** The sum of a metric's samples whose line matches `match`. */
function total(text: string, name: string, match = /.*/): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{.*\})? (\S+)$/.exec(line);
    if (m !== null && m[1] === name && match.test(line)) sum += Number(m[3]);
  }
  return sum;
}

/** The label sets of a metric's samples. */
function labelSets(text: string, name: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labels: Record<string, string> = {};
    for (const m of line.slice(0, line.lastIndexOf(' ')).matchAll(/(\w+)="([^"]*)"/g)) labels[m[1] as string] = m[2] as string;
    out.push(labels);
  }
  return out;
}

/** Scrapes until `done` holds (every 100 ms, 30 s at most: bytes reach the agent with no event to wait on). */
async function scrapeUntil(url: string, done: (text: string) => boolean, what: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = await (await fetch(url)).text();
    if (done(text)) return text;
    if (Date.now() > deadline) throw new Error(`${what}: not within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Writes `n` random bytes on the stream, resolving once they are handed to HTTP/2. */
function write(stream: ClientHttp2Stream, n: number): Promise<void> {
  return new Promise((resolve, reject) => stream.write(randomBytes(n), (err) => (err == null ? resolve() : reject(err))));
}

for (const workers of [1, 2]) {
  t.test(`istio_tcp_* bytes grow while a connection is open and sum exactly after close (workers: ${workers})`, async (t) => {
    const rig = await adminRig(t, { workers });
    const stream = await rig.connect('127.0.0.1', rig.backendPort);
    const answer = readAll(stream);
    t.equal(await status(stream), 200);
    const SENT = /reporter="destination"/;
    const sentNow = (text: string): number => total(text, 'istio_tcp_sent_bytes_total', SENT);

    await write(stream, 100_000);
    const first = await scrapeUntil(rig.metrics, (text) => sentNow(text) >= 100_000, 'the first 100,000 bytes counted');
    t.equal(sentNow(first), 100_000, 'first scrape while open: the bytes so far');
    t.equal(total(first, 'istio_tcp_connections_closed_total'), 0, 'the connection is open');
    t.equal(total(first, 'meshlet_tcp_sent_bytes_total'), 100_000, 'meshlet\'s own name grows too');

    await write(stream, 250_000);
    const second = await scrapeUntil(rig.metrics, (text) => sentNow(text) >= 350_000, 'the next 250,000 bytes counted');
    t.equal(sentNow(second), 350_000, 'second scrape while open: grown by what was sent since');
    t.equal(total(second, 'istio_tcp_connections_closed_total'), 0, 'still open');
    t.equal(total(second, 'istio_tcp_connections_opened_total'), 1, 'opened once');

    stream.end();
    const digest = await answer;
    t.equal(JSON.parse(digest).n, 350_000, 'the workload got every byte');
    const after = await scrapeUntil(rig.metrics, (text) => total(text, 'istio_tcp_connections_closed_total') >= 1, 'the close counted');
    t.equal(sentNow(after), 350_000, 'after close: the bytes sent, once');
    t.equal(total(after, 'istio_tcp_received_bytes_total', SENT), Buffer.byteLength(digest), 'after close: the bytes received');
    t.equal(total(after, 'meshlet_tcp_sent_bytes_total'), 350_000);
    t.equal(total(after, 'meshlet_tcp_received_bytes_total'), Buffer.byteLength(digest));
    t.equal(total(after, 'istio_tcp_connections_opened_total'), 1, 'opened once, not again at close');

    const sets = labelSets(after, 'istio_tcp_sent_bytes_total');
    t.equal(sets.length > 0, true, 'series to check');
    for (const l of sets) {
      t.same(
        [l['reporter'], l['source_principal'], l['destination_principal'], l['destination_workload'], l['destination_workload_namespace'], l['connection_security_policy']],
        ['destination', CLIENT_ID, SERVER_ID, 'server', 'demo', 'mutual_tls'],
        'labels name the client\'s and the server\'s identities',
      );
    }
  });
}

t.test('/stats/prometheus and OpenMetrics on the agent\'s metrics port, with two workers', async (t) => {
  const rig = await adminRig(t, { workers: 2 });
  const stream = await rig.connect('127.0.0.1', rig.backendPort);
  const answer = readAll(stream);
  t.equal(await status(stream), 200);
  stream.end(randomBytes(4321));
  await answer;
  const plain = await scrapeUntil(rig.metrics, (text) => total(text, 'istio_tcp_connections_closed_total') >= 1, 'the close counted');
  const stats = await fetch(rig.metrics.replace(/\/metrics$/, '/stats/prometheus'));
  t.equal(stats.status, 200);
  const families = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2] as string).sort();
  const plainFamilies = families(plain);
  t.equal(plainFamilies.includes('istio_tcp_sent_bytes_total'), true, 'the Istio families are there');
  t.same(families(await stats.text()), plainFamilies, '/stats/prometheus: the same families as /metrics');

  const om = await fetch(rig.metrics, { headers: { accept: PROMETHEUS_ACCEPT } });
  t.equal(om.headers.get('content-type'), 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  const omText = await om.text();
  t.equal(omText.endsWith('\n# EOF\n'), true, 'OpenMetrics ends with # EOF');
  const omFamilies = families(omText);
  t.equal(omFamilies.includes('istio_tcp_sent_bytes'), true, 'a counter family without _total');
  t.equal(omFamilies.length, plainFamilies.length, 'every family, workers\' sums included');
  t.equal(total(omText, 'istio_tcp_sent_bytes_total'), 4321, 'samples keep _total, summed over the workers');
  t.notMatch(omText, /_total_total/);
  const again = await (await fetch(rig.metrics)).text();
  t.match(again.split('\n')[0], /^# HELP /, 'plain text again without Accept');
  t.equal(again.includes('# EOF'), false);
  // Series only grow between two scrapes: every sample name of the OpenMetrics scrape is in the
  // later text one (a counter not named *_total would read *_total in OpenMetrics only).
  const sampleNames = (text: string): Set<string> => new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => /^[^{ ]+/.exec(l)?.[0] ?? l));
  const later = sampleNames(again);
  const omNames = [...sampleNames(omText)];
  t.not(omNames.length, 0, 'samples to compare');
  t.same(omNames.filter((n) => !later.has(n)), [], 'the same sample names in both formats');
});
