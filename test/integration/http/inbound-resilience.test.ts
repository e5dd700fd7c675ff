/**
 * Local rate limits and adaptive concurrency through the real InboundHttp (every way in goes
 * through `call`): a 429 with the RateLimit headers and Retry-After, gRPC's RESOURCE_EXHAUSTED,
 * per-source buckets, header-scoped rules, the metrics and access-log fields; an adaptive limit
 * cut when the workload slows down under load (503 overflow); and the same limits on a
 * connection the destination agent terminates (plaintext keep-alive).
 */
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import t from 'tap';
import { pino } from 'pino';
import { localReply } from '../../../src/agent/http/inbound-http.js';
import { InboundTerminator } from '../../../src/agent/http/inbound-terminate.js';
import { DEFAULT_ADAPTIVE_CONCURRENCY } from '../../../src/mesh/resilience.js';
import { waitFor } from '../../helpers/wait-for.js';
import { LeasedRateLimiter } from '../../../src/agent/workers/rate-lease.js';
import { TokenGrants } from '../../../src/agent/workers/token-grants.js';
import { raw, statuses } from './inbound-terminate-rig.js';
import { ALICE, BOB, mtlsFrom, rig } from './inbound-resilience-rig.js';

const rule = (requests: number, periodMs: number, more: object = {}) => ({ requests, periodMs, perSource: false, sources: [], headers: [], ...more });

t.test('a shared rule: the burst passes, then 429 with RateLimit headers and Retry-After; the workload sees only the admitted', async (t) => {
  const r = await rig(t, { rateLimit: { rules: [rule(3, 60_000)] } });
  const statusesSeen: number[] = [];
  for (let i = 0; i < 5; i++) statusesSeen.push((await r.get(mtlsFrom(ALICE))).res.status);
  t.same(statusesSeen, [200, 200, 200, 429, 429]);
  t.equal(r.reached(), 3);
  const { res, body } = await r.get(mtlsFrom(ALICE));
  t.equal(res.status, 429);
  t.equal(res.failure, 'rate_limited');
  t.equal(res.headers['ratelimit-limit'], '3');
  t.equal(res.headers['ratelimit-remaining'], '0');
  t.equal(res.headers['ratelimit-reset'], '20', 'a token every 20 s');
  t.equal(res.headers['retry-after'], '20');
  t.equal(body, 'meshlet: rate_limited\n');
  await waitFor('six records', () => r.records.length === 6);
  const limited = r.records.filter((x) => x.failure === 'rate_limited');
  t.equal(limited.length, 3);
  t.equal(limited[0]?.overflow, 'rate_limit');
  t.equal(await r.metric('meshlet_rate_limited_total', { scope: 'inbound', target: 'demo/server' }), 3);
});

t.test('gRPC: RESOURCE_EXHAUSTED in a trailers-only answer', async (t) => {
  const r = await rig(t, { rateLimit: { rules: [rule(1, 60_000)] } });
  const grpc = { 'content-type': 'application/grpc' };
  await r.get(mtlsFrom(ALICE), grpc);
  const { res } = await r.get(mtlsFrom(ALICE), grpc);
  t.equal(res.status, 200);
  t.equal(res.headers['grpc-status'], '8');
  t.equal(res.headers['grpc-message'], 'meshlet: rate_limited');
  t.equal(res.headers['retry-after'], '60');
  t.equal(res.failure, 'rate_limited');
});

t.test('perSource: one bucket per authenticated identity; plaintext sources share one', async (t) => {
  const r = await rig(t, { rateLimit: { rules: [rule(2, 60_000, { perSource: true })] } });
  const codes = async (source: Parameters<typeof r.get>[0], n: number) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await r.get(source)).res.status);
    return out;
  };
  t.same(await codes(mtlsFrom(ALICE), 3), [200, 200, 429]);
  t.same(await codes(mtlsFrom(BOB), 3), [200, 200, 429], 'bob is not charged for alice');
  t.same(await codes({ kind: 'plaintext', address: '127.0.0.7:1000' }, 1), [200]);
  t.same(await codes({ kind: 'plaintext', address: '127.0.0.8:1000' }, 2), [200, 429], 'another plaintext client shares the plaintext bucket');
});

t.test('sources and headers scope a rule; a request it does not match is not charged', async (t) => {
  const r = await rig(t, { rateLimit: { rules: [rule(1, 60_000, { sources: [ALICE], headers: [{ name: 'x-tier', value: 'free' }] })] } });
  const free = { 'x-tier': 'free' };
  t.equal((await r.get(mtlsFrom(ALICE), free)).res.status, 200);
  t.equal((await r.get(mtlsFrom(ALICE), free)).res.status, 429);
  t.equal((await r.get(mtlsFrom(ALICE), { 'x-tier': 'paid' })).res.status, 200, 'other header value');
  t.equal((await r.get(mtlsFrom(BOB), free)).res.status, 200, 'other source');
  t.equal((await r.get(mtlsFrom(BOB), free)).res.status, 200);
});

t.test('a terminated plaintext keep-alive connection is limited per request', async (t) => {
  const r = await rig(t, { rateLimit: { rules: [rule(2, 60_000)] } });
  const terminator = new InboundTerminator({ logger: pino({ level: 'silent' }), http: r.inbound });
  const capture = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) =>
    terminator.serve(s, { kind: 'plaintext', address: '127.0.0.9:4000' }, { address: '127.0.0.1', port: r.port }, () => undefined),
  );
  capture.listen(0, '127.0.0.1');
  await once(capture, 'listening');
  t.teardown(() => {
    terminator.destroy();
    capture.close();
  });
  const GET = (close = false) => `GET / HTTP/1.1\r\nHost: server.demo\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
  const answer = await raw((capture.address() as AddressInfo).port, GET() + GET() + GET() + GET(true));
  t.same(statuses(answer), [200, 200, 429, 429]);
  t.match(answer, /ratelimit-limit: 2\r\n/i);
  t.match(answer, /retry-after: 30\r\n/i);
  t.equal(r.reached(), 2);
});

t.test('adaptive concurrency: a workload that slows down under load gets its limit cut; refused at once with 503 overflow', async (t) => {
  const r = await rig(t, { adaptiveConcurrency: { ...DEFAULT_ADAPTIVE_CONCURRENCY, sampleIntervalMs: 50, minRttRequests: 5, minConcurrency: 2, maxConcurrency: 200 } });
  // Unloaded, two at a time, each answered after 40 ms: the minimum RTT is measured and the
  // limit grows. The fixed latency dwarfs a loaded machine's scheduling noise (an instant answer
  // made the samples noise, and a noisy sample above the minimum cuts the limit instead); the
  // loop stops once the limit has grown, the deadline only bounds it.
  r.fixedMs = 40;
  const limit = (): number => r.gate.limits()[0]?.value ?? 0;
  const deadline = Date.now() + 20_000;
  while (limit() < 10 && Date.now() < deadline) await Promise.all([r.get(mtlsFrom(ALICE)), r.get(mtlsFrom(ALICE))]);
  const grown = limit();
  t.ok(grown >= 10, `the unloaded limit grew (${grown})`);
  // Now each request in flight adds 10 ms: a flood queues in the workload.
  r.slowMsPerInFlight = 10;
  let refused = 0;
  // The lowest limit the flood saw: a machine stall long enough to be taken for a new minimum
  // RTT (re-measured at the minimum limit) may let the limit grow back before the flood ends.
  let lowest = grown;
  const failures = new Set<string | undefined>();
  const flood = async (): Promise<void> => {
    const end = Date.now() + 2000;
    while (Date.now() < end) {
      const { res } = await r.get(mtlsFrom(ALICE));
      lowest = Math.min(lowest, limit());
      if (res.status === 503) {
        refused++;
        failures.add(res.failure);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  };
  await Promise.all(Array.from({ length: 40 }, flood));
  t.ok(lowest < grown, `under load the limit was cut (${grown} -> ${lowest})`);
  t.ok(refused > 0, `requests past the limit were refused (${refused})`);
  t.same([...failures], ['overflow'], 'every 503 was the adaptive limit');
  t.equal(await r.metric('meshlet_upstream_overflow_total', { service: 'demo/server', threshold: 'adaptive_concurrency' }), refused);
  t.equal(await r.metric('meshlet_adaptive_concurrency_limit', { workload: 'demo/server', port: String(r.port) }), limit(), 'the gauge shows the limit in force');
  await waitFor('overflow records', () => r.records.some((x) => x.failure === 'overflow'));
  t.equal(r.records.find((x) => x.failure === 'overflow')?.overflow, 'adaptive');
});

t.test('no policy: nothing is limited and no state is kept', async (t) => {
  const r = await rig(t, {});
  for (let i = 0; i < 20; i++) t.equal((await r.get(mtlsFrom(ALICE))).res.status, 200);
  t.same(r.gate.limits(), []);
});

t.test('an agent-made answer resolves its trailers only once its body has ended (a caller ending on them must not cut the body)', async (t) => {
  const res = localReply('rate_limited', { method: 'GET', headers: {} }, { 'retry-after': '1' });
  let settled = false;
  void res.trailers.then(() => (settled = true));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(settled, false, 'not before the body is read');
  let body = '';
  for await (const c of res.body) body += (c as Buffer).toString();
  t.equal(body, 'meshlet: rate_limited\n');
  t.same(await res.trailers, {});
});

t.test('a worker whose lease is empty: the request waits for the primary, its body flows through once admitted', async (t) => {
  const grants = new TokenGrants();
  // The primary answers a millisecond later, as over IPC.
  const limiter: LeasedRateLimiter = new LeasedRateLimiter((ask) => setTimeout(() => limiter.onGrant(grants.grant(ask)), 1));
  const r = await rig(t, { rateLimit: { rules: [rule(2, 60_000)] } }, limiter);
  grants.setIndex(r.index);
  const post = async (): Promise<{ status: number; body: string }> => {
    const call = r.inbound.call(mtlsFrom(ALICE), { address: '127.0.0.1', port: r.port }, { method: 'POST', path: '/', authority: 'server.demo', proto: 'HTTP/1.1', headers: { 'content-length': '5' } });
    call.body.end('hello');
    const res = await call.response;
    let body = '';
    for await (const c of res.body) body += (c as Buffer).toString();
    return { status: res.status, body };
  };
  t.same(await post(), { status: 200, body: 'ok' });
  t.same(await post(), { status: 200, body: 'ok' });
  const third = await post();
  t.equal(third.status, 429);
  t.equal(r.reached(), 2);
  t.same(r.bodies, ['hello', 'hello'], 'the workload got each admitted body whole');
});
