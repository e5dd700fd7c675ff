/**
 * HTTP/1.1 Upgrade (WebSocket and others) through the tunnel as an RFC 8441 extended CONNECT:
 * the workload's 101 comes back as 200 + meshlet-status: 101 and the stream then carries the
 * upgraded bytes both ways; any other answer is relayed as a response.
 */
import t from 'tap';
import { once } from 'node:events';
import type { ClientHttp2Stream, OutgoingHttpHeaders } from 'node:http2';
import { waitFor } from '../../../helpers/wait-for.js';
import { answer, CLIENT_ID, l7Rig, SERVER_ID, type L7Rig } from './l7-rig.js';

/** The stream of an extended CONNECT (the rig's tunnel server announces it: never undefined). */
function defined(stream: ClientHttp2Stream | undefined): ClientHttp2Stream {
  if (stream === undefined) throw new Error('TunnelPool.upgrade gave no stream, though the tunnel server announces extended CONNECT');
  return stream;
}

async function upgrade(rig: L7Rig, headers: OutgoingHttpHeaders = {}, address = '127.0.0.1'): Promise<ClientHttp2Stream> {
  return defined(await rig.pool.upgrade(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: SERVER_ID, address, port: rig.h1Port }, {
    ':protocol': 'websocket',
    ':path': '/ws?room=1',
    ':authority': 'echo.demo.svc',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'sec-websocket-version': '13',
    forwarded: 'for="127.0.0.9:5555"',
    ...headers,
  }));
}

t.test('a 101 becomes 200 + meshlet-status 101, then bytes flow both ways and half-close', async (t) => {
  const rig = await l7Rig(t);
  let seen: Record<string, unknown> = {};
  rig.onUpgrade((req, socket) => {
    seen = { url: req.url, method: req.method, ...req.headers };
    // The first upgraded bytes go in the same write as the 101: the agent must not lose them.
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nhello|');
    socket.pipe(socket);
  });
  const stream = await upgrade(rig);
  const [head] = (await once(stream, 'response')) as [Record<string, unknown>];
  t.same([head[':status'], head['meshlet-status'], head['sec-websocket-accept'], head['upgrade'], head['connection']], [200, '101', 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', undefined, undefined]);
  t.match(seen, { url: '/ws?room=1', method: 'GET', host: 'echo.demo.svc', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'x-forwarded-for': '127.0.0.9' });
  t.equal(seen['meshlet-dst'], undefined);
  const got: Buffer[] = [];
  stream.on('data', (c: Buffer) => got.push(c));
  stream.write('ping');
  await waitFor('the echo', () => Buffer.concat(got).toString() === 'hello|ping');
  stream.end();
  await once(stream, 'end');
  t.equal(Buffer.concat(got).toString(), 'hello|ping', 'the half-close reached the workload, which closed its side');
  await waitFor('the record', () => rig.records.length === 1);
  t.match(rig.records[0], { reporter: 'destination', method: 'GET', status: 101, requestBytes: 4, responseBytes: 10, destinationWorkload: 'Pod/demo/server' });
});

t.test('an answer other than 101 is relayed as a response', async (t) => {
  const rig = await l7Rig(t);
  const stream = await upgrade(rig);
  const a = await answer(stream);
  t.same([a.status, a.headers['meshlet-status'], a.body.toString()], [426, undefined, 'nope']);
  await waitFor('the record', () => rig.records.length === 1);
  t.match(rig.records[0], { status: 426, responseBytes: 4 });
});

t.test('an upgrade to an address that is no local workload: 403, never dialled', async (t) => {
  const rig = await l7Rig(t);
  const a = await answer(await upgrade(rig, {}, '127.0.0.2'));
  t.same([a.status, a.headers['meshlet-error']], [403, 'policy_denied']);
  t.equal(rig.accepted.h1, 0);
});

t.test('an upgrade to a port nothing listens on: 503 connect_refused', async (t) => {
  const rig = await l7Rig(t);
  const port = await rig.closedPort();
  const stream = defined(await rig.pool.upgrade(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port }, { ':protocol': 'websocket', ':path': '/', ':authority': 'x' }));
  const a = await answer(stream);
  t.same([a.status, a.headers['meshlet-error']], [503, 'connect_refused']);
});

t.test('an extended CONNECT without meshlet-dst is refused (405)', async (t) => {
  const rig = await l7Rig(t);
  const stream = await rig.pool.open(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: rig.h1Port }, { ':protocol': 'websocket', ':path': '/', ':scheme': 'http' });
  stream.end();
  t.equal((await answer(stream)).status, 405);
  t.equal(rig.accepted.h1, 0);
});
