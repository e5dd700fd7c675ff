/**
 * `connection.sni` at the destination: InboundProxy reads the application's TLS ClientHello
 * (same-node hand-over, in-process on 127.0.0.1) when the workload's policies have an SNI
 * condition, decides on its server name, and gives every byte back to the workload. A client
 * that sends nothing is decided after the detection timeout, as one with no server name.
 */
import { once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import tls from 'node:tls';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { clientHelloSni } from '../../../src/agent/policy/client-hello.js';
import { ConnectionTable } from '../../../src/agent/proxy/connection-table.js';
import { InboundProxy } from '../../../src/agent/proxy/inbound.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import type { AuthzCondition } from '../../../src/mesh/authz/types.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';
import { waitFor } from '../../helpers/wait-for.js';

const logger = pino({ level: 'silent' });

function workload(name: string, address: string): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node: 'node1', nodeAddress: '198.18.0.11',
    serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: { app: name }, tlsMode: 'PERMISSIVE', namedPorts: [],
  };
}
const web = workload('web', '127.0.0.1');
const client = workload('client', '198.18.2.10');

/** A workload that records the first bytes of each connection; InboundProxy delivering to it in-process. */
async function rig(t: Test, when: AuthzCondition[], action: 'ALLOW' | 'DENY' = 'ALLOW') {
  const received: Buffer[] = [];
  const server = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (clientHelloSni(buf).state !== 'incomplete') {
        received.push(buf);
        s.destroy();
      }
    });
    s.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local', localWorkloads: [web], workloads: [web, client], services: [],
    authorizationPolicies: [{ key: 'demo/sni', namespace: 'demo', name: 'sni', apiVersion: 'meshlet.io/v1alpha1', action, selector: { app: 'web' }, rules: [{ when }], creationTimestamp: 0 }],
  };
  const index = new WorkloadIndex(snapshot, { allowLoopback: true });
  const table = new ConnectionTable(logger);
  const inbound = new InboundProxy({ logger, table, index: () => index, agentPorts: new Set(), sniTimeoutMs: 150 });
  const closes: (string | undefined)[] = [];
  const capture = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s: Socket) => {
    s.on('error', () => undefined); // the outbound side's own handler, in the agent
    inbound.deliverLocal(s, client, '127.0.0.1', port, undefined, (failure) => void closes.push(failure));
  });
  capture.listen(0, '127.0.0.1');
  await once(capture, 'listening');
  t.teardown(() => {
    capture.close();
    server.close();
  });
  const capturePort = (capture.address() as AddressInfo).port;
  /** A TLS client with this server name: 'delivered' once the workload got its whole ClientHello, else the error. */
  const hello = async (servername: string): Promise<string> => {
    const before = received.length;
    const c = tls.connect({ host: '127.0.0.1', port: capturePort, servername, rejectUnauthorized: false });
    // The workload closes once it has the ClientHello, so an error (a reset passed on) may come
    // either way: what counts is whether the workload got it.
    let error = 'closed';
    c.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    await new Promise((resolve) => c.once('close', resolve)); // not events.once: it rejects on 'error'
    const outcome = received.length > before ? 'delivered' : error;
    c.destroy();
    return outcome;
  };
  return { received, closes, hello, capturePort, table };
}

t.test('ALLOW when connection.sni: the named server gets its ClientHello whole; another name is reset', async (t) => {
  const r = await rig(t, [{ key: 'connection.sni', values: ['api.example.com', '*.internal'] }]);
  t.equal(await r.hello('api.example.com'), 'delivered');
  t.equal(clientHelloSni(r.received[0] ?? Buffer.alloc(0)).state, 'sni', 'the workload read the ClientHello from its first byte');
  t.same(clientHelloSni(r.received[0] ?? Buffer.alloc(0)), { state: 'sni', name: 'api.example.com' });
  t.equal(await r.hello('db.internal'), 'delivered', 'a suffix wildcard');
  t.equal(await r.hello('evil.example.com'), 'ECONNRESET', 'another name: reset');
  t.equal(r.received.length, 2, 'the workload never saw the denied one');
  await waitFor('three records closed', () => r.closes.length === 3);
  t.equal(r.closes.filter((f) => f === 'authz_denied').length, 1, 'denied by authorization');
});

t.test('DENY when connection.sni: the named server is reset, others pass', async (t) => {
  const r = await rig(t, [{ key: 'connection.sni', values: ['admin.example.com'] }], 'DENY');
  t.equal(await r.hello('admin.example.com'), 'ECONNRESET');
  t.equal(await r.hello('www.example.com'), 'delivered');
});

t.test('a client that sends nothing: decided after the timeout as one with no server name', async (t) => {
  const r = await rig(t, [{ key: 'connection.sni', values: ['api.example.com'] }]);
  const started = Date.now();
  const s = net.connect(r.capturePort, '127.0.0.1');
  let code = '';
  s.on('error', (err: NodeJS.ErrnoException) => (code = err.code ?? ''));
  await new Promise((resolve) => s.once('close', resolve));
  t.equal(code, 'ECONNRESET', 'no ClientHello, no server name: the ALLOW rule does not match');
  t.ok(Date.now() - started >= 100, `not before the timeout (${Date.now() - started} ms)`);
  const plain = net.connect(r.capturePort, '127.0.0.1');
  plain.on('error', () => undefined);
  plain.end('GET / HTTP/1.1\r\nHost: web\r\n\r\n');
  await new Promise((resolve) => plain.once('close', resolve));
  await waitFor('closed', () => r.closes.length === 2);
  t.same(r.closes, ['authz_denied', 'authz_denied'], 'plaintext HTTP has no server name either');
});
