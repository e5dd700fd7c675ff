/**
 * The controller's metrics server (src/controller/metrics-server.ts): what it adds to
 * PrometheusServer is a MeshletError for each way start() can fail, with the code that says so,
 * and the probes: /healthz always, /ready from the controller's health.
 */
import net from 'node:net';
import pino from 'pino';
import t from 'tap';
import { ControllerMetrics } from '../../../src/controller/metrics.js';
import { ControllerMetricsServer, type ControllerHealth } from '../../../src/controller/metrics-server.js';
import { listen } from '../../../src/ops/listen.js';

const logger = pino({ level: 'silent' });
const ready = (): ControllerHealth => ({ role: 'single', pending: [] });

t.test('a port already taken is MESHLET_ERR_LISTEN, naming the address', async (t) => {
  const taken = net.createServer();
  t.teardown(() => taken.close());
  const { port } = await listen(taken, { port: 0, host: '127.0.0.1' });
  const server = new ControllerMetricsServer(new ControllerMetrics(), logger, ready);
  t.teardown(() => server.close());
  await t.rejects(server.start(port, '127.0.0.1'), { name: 'MeshletError', code: 'MESHLET_ERR_LISTEN', message: `metrics could not listen on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}` });
});

t.test('start after close is MESHLET_ERR_CLOSED; a started server serves /metrics', async (t) => {
  const server = new ControllerMetricsServer(new ControllerMetrics(), logger, ready);
  const address = await server.start(0, '127.0.0.1');
  const res = await fetch(`http://127.0.0.1:${address.port}/metrics`);
  t.equal(res.status, 200);
  await res.text();
  server.close();
  await t.rejects(server.start(0, '127.0.0.1'), { code: 'MESHLET_ERR_CLOSED' });
});

t.test('/healthz answers while the process runs; /ready says the role and what is pending', async (t) => {
  let health: ControllerHealth = { role: 'standby', pending: ['leadership', 'state', 'agent-api'] };
  const server = new ControllerMetricsServer(new ControllerMetrics(), logger, () => health);
  t.teardown(() => server.close());
  const { port } = await server.start(0, '127.0.0.1');
  const get = async (path: string, method = 'GET'): Promise<{ status: number; body: string; type: string | null }> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
    return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
  };
  t.same(await get('/healthz'), { status: 200, body: '{"ok":true}\n', type: 'application/json' }, 'a standby is alive');
  const standby = await get('/ready');
  t.equal(standby.status, 503, 'a standby is not ready');
  t.same(JSON.parse(standby.body), { ready: false, role: 'standby', pending: ['leadership', 'state', 'agent-api'] });
  health = { role: 'leader', pending: [] };
  const leader = await get('/ready');
  t.equal(leader.status, 200, 'the leader serving agents is ready');
  t.same(JSON.parse(leader.body), { ready: true, role: 'leader', pending: [] });
  health = { role: 'leader', pending: ['draining'] };
  t.equal((await get('/ready')).status, 503, 'a draining leader is not');
  t.equal((await get('/ready', 'POST')).status, 405, 'probes are GET');
  t.equal((await get('/healthz', 'HEAD')).status, 200, 'HEAD works for probes that use it');
  t.equal((await get('/readyz')).status, 404, 'other paths stay 404');
  t.equal((await get('/metrics')).status, 200, 'and /metrics is still served');
});
