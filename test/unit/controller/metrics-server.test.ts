/**
 * The controller's metrics server (src/controller/metrics-server.ts): what it adds to
 * PrometheusServer is a MeshletError for each way start() can fail, with the code that says so.
 */
import net from 'node:net';
import pino from 'pino';
import t from 'tap';
import { ControllerMetrics } from '../../../src/controller/metrics.js';
import { ControllerMetricsServer } from '../../../src/controller/metrics-server.js';
import { listen } from '../../../src/ops/listen.js';

const logger = pino({ level: 'silent' });

t.test('a port already taken is MESHLET_ERR_LISTEN, naming the address', async (t) => {
  const taken = net.createServer();
  t.teardown(() => taken.close());
  const { port } = await listen(taken, { port: 0, host: '127.0.0.1' });
  const server = new ControllerMetricsServer(new ControllerMetrics(), logger);
  t.teardown(() => server.close());
  await t.rejects(server.start(port, '127.0.0.1'), { name: 'MeshletError', code: 'MESHLET_ERR_LISTEN', message: `metrics could not listen on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}` });
});

t.test('start after close is MESHLET_ERR_CLOSED; a started server serves /metrics', async (t) => {
  const server = new ControllerMetricsServer(new ControllerMetrics(), logger);
  const address = await server.start(0, '127.0.0.1');
  const res = await fetch(`http://127.0.0.1:${address.port}/metrics`);
  t.equal(res.status, 200);
  await res.text();
  server.close();
  await t.rejects(server.start(0, '127.0.0.1'), { code: 'MESHLET_ERR_CLOSED' });
});
