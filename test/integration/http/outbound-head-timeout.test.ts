/**
 * The source side's head deadline (slowloris): a captured HTTP/1.x connection whose request head
 * does not complete in `headersTimeoutMs` is answered 408 and closed. OutboundHttp's server is fed
 * sockets and never listens, so Node's deadline check must be started by hand; without it a
 * pod could hold agent sockets open forever with a head that never ends.
 */
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import t from 'tap';
import { pino } from 'pino';
import { OutboundHttp, type HttpConnection } from '../../../src/agent/http/outbound-http.js';
import type { UpstreamCall } from '../../../src/agent/http/exchange.js';
import { BalancerRegistry } from '../../../src/agent/policy/balancer.js';
import type { ServicePortEntry, WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import type { WorkloadInfo } from '../../../src/mesh/types.js';
import { raw, statuses } from './inbound-terminate-rig.js';
import { waitFor } from '../../helpers/wait-for.js';

t.test('a request head that does not complete in time: 408 and closed (slow head, silent client)', async (t) => {
  const never = (): UpstreamCall => {
    throw new Error('no request may get this far');
  };
  const http7 = new OutboundHttp({
    logger: pino({ level: 'silent' }),
    index: () => ({ trafficPolicyOf: () => undefined }) as unknown as WorkloadIndex,
    balancers: new BalancerRegistry(),
    tunnel: () => Promise.reject(new Error('no request may get this far')),
    local: never,
    plaintext: never,
    observer: { onRequest: () => undefined },
    routesOf: () => [],
    limits: { headersTimeoutMs: 300 },
  });
  const closed: (string | undefined)[] = [];
  const conn: HttpConnection = {
    source: { uid: 'Pod/demo/client' } as WorkloadInfo,
    sourceAddress: '127.0.0.2:4000',
    sourceIp: '127.0.0.2',
    entry: { service: { key: 'demo/web' }, port: { port: 80 } } as ServicePortEntry,
    onClose: (failure) => void closed.push(failure),
  };
  const capture = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => http7.serve(s, conn, 'http1'));
  capture.listen(0, '127.0.0.1');
  await once(capture, 'listening');
  t.teardown(() => {
    http7.destroy();
    capture.close();
  });
  const port = (capture.address() as AddressInfo).port;
  const started = Date.now();
  t.same(statuses(await raw(port, 'GET /a HTTP/1.1\r\nHost: web\r\n')), [408], 'a head that stops half way');
  t.same(statuses(await raw(port, [])), [408], 'a client that sends nothing');
  t.ok(Date.now() - started < 10_000, `both within a bounded time (${Date.now() - started} ms)`);
  await waitFor('both connections closed', () => closed.length === 2);
});
