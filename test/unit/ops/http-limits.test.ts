/**
 * The local HTTP limits on their own (metrics and readiness use them as they are): the
 * per-peer cap, bodies on GET-only ports, the refusal counter shared by a registry, and the
 * throttled warning.
 */
import { once } from 'node:events';
import net from 'node:net';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { createLocalHttpServer, LOCAL_HTTP_LIMITS, REFUSED_METRIC, refusalCounter } from '../../../src/ops/http-limits.js';
import { listen } from '../../../src/ops/listen.js';
import { PrometheusServer } from '../../../src/ops/prometheus-server.js';
import { ThrottledLog } from '../../../src/ops/throttled-log.js';
import { rawGet } from '../../helpers/raw-http.js';

async function count(registry: Registry, listener: string, reason: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === REFUSED_METRIC);
  const v = metric?.values.find((x) => x.labels['listener'] === listener && x.labels['reason'] === reason);
  return v === undefined ? 0 : Number(v.value);
}

t.test('the defaults are bounded and stricter than Node\'s', async (t) => {
  t.same(LOCAL_HTTP_LIMITS, {
    maxConnections: 128, maxConnectionsPerPeer: 16, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000,
    keepAliveTimeoutMs: 5_000, maxHeaderBytes: 8192, maxBodyBytes: 0, timeoutCheckMs: 1_000,
  });
  const { server } = createLocalHttpServer((_req, res) => res.end(), { listener: 'x' });
  t.equal(server.maxConnections, 128);
  t.equal(server.headersTimeout, 10_000);
  t.equal(server.requestTimeout, 30_000);
  t.equal(server.keepAliveTimeout, 5_000);
});

t.test('one peer gets at most maxConnectionsPerPeer; the others are closed and counted', async (t) => {
  const registry = new Registry();
  const { server } = createLocalHttpServer((_req, res) => res.end('ok'), { listener: 'readiness', registry, limits: { maxConnectionsPerPeer: 2, maxConnections: 10 } });
  const { port } = await listen(server, { port: 0, host: '127.0.0.1' });
  t.teardown(() => {
    server.close();
    server.closeAllConnections();
  });
  const open: net.Socket[] = [];
  t.teardown(() => open.forEach((s) => s.destroy()));
  for (let i = 0; i < 2; i++) {
    const s = net.connect(port, '127.0.0.1');
    open.push(s);
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(s, 'data'); // accepted and answered: it counts against the peer
  }
  const third = net.connect(port, '127.0.0.1');
  third.on('error', () => undefined);
  await once(third, 'close');
  t.equal(await count(registry, 'readiness', 'per_peer'), 1);
  open.shift()?.end();
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    ok = (await rawGet(port, '/')) === 200;
    if (!ok) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(ok, true, 'a slot frees when a connection closes');
});

t.test('the metrics port takes no body: 413 and counted; the counter is shared within a registry', async (t) => {
  const registry = new Registry();
  const metrics = new PrometheusServer(registry, pino({ level: 'silent' }));
  const { port } = await metrics.start(0, '127.0.0.1');
  t.teardown(() => metrics.close());
  t.equal((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST', body: 'x'.repeat(100) })).status, 413);
  t.equal(await count(registry, 'metrics', 'body_too_large'), 1);
  t.equal(refusalCounter(registry), refusalCounter(registry), 'one counter per registry');
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  t.match(text, /^meshlet_local_http_refused_total\{listener="metrics",reason="body_too_large"\} 1$/m);
  const server = net.connect(port, '127.0.0.1');
  server.on('error', () => undefined);
  server.write(`GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ${'x'.repeat(9000)}\r\n\r\n`);
  let answer = '';
  server.on('data', (c: Buffer) => (answer += c.toString()));
  await once(server, 'close');
  t.match(answer, /^HTTP\/1\.1 431 /);
  t.equal(await count(registry, 'metrics', 'header_too_large'), 1);
});

t.test('ThrottledLog: the first line at once, then one per interval with the count suppressed', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const log = new ThrottledLog(logger, 'refused', 60_000);
  t.equal(log.warn({ n: 1 }, 1_000), true);
  for (let i = 0; i < 1000; i++) log.warn({ n: i }, 2_000 + i);
  t.equal(log.warn({ n: 2 }, 61_000), true);
  t.same(lines.map((l) => [l['msg'], l['n'], l['suppressed']]), [['refused', 1, 0], ['refused', 2, 1000]]);
});
