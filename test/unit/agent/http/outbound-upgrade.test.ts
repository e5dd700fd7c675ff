/**
 * The pure parts of the source side's upgrades: which upgrade requests cross as an extended
 * CONNECT and with which `:protocol`, the headers they carry, and the HTTP/1.1 heads written
 * back to the application.
 */
import t from 'tap';
import type { Lease } from '../../../../src/agent/policy/balancers/tracked-balancer.js';
import { failureResponse, responseHead, tunnelProtocol, upgradeHeaders } from '../../../../src/agent/http/outbound-upgrade.js';

t.test('tunnelProtocol: bodyless GET upgrades, the first token other than h2c, lower-cased', async (t) => {
  const cases: Array<[string | undefined, Record<string, string>, string | undefined]> = [
    ['GET', { upgrade: 'websocket' }, 'websocket'],
    ['GET', { upgrade: 'WebSocket' }, 'websocket'],
    ['GET', { upgrade: ' websocket , foo/2' }, 'websocket'],
    ['GET', { upgrade: 'foo/2, websocket' }, 'foo/2'],
    ['GET', { upgrade: 'h2c, websocket' }, 'websocket'],
    ['GET', { upgrade: ', , websocket' }, 'websocket'],
    ['GET', { upgrade: 'websocket', 'content-length': '0' }, 'websocket'],
    ['GET', { upgrade: 'h2c' }, undefined],
    ['GET', { upgrade: '' }, undefined],
    ['GET', {}, undefined],
    ['GET', { upgrade: 'web socket' }, undefined],
    ['GET', { upgrade: 'a/b/c' }, undefined],
    ['GET', { upgrade: 'websocket', 'content-length': '5' }, undefined],
    ['GET', { upgrade: 'websocket', 'transfer-encoding': 'chunked' }, undefined],
    ['POST', { upgrade: 'websocket' }, undefined],
    ['OPTIONS', { upgrade: 'websocket' }, undefined],
    [undefined, { upgrade: 'websocket' }, undefined],
  ];
  t.same(cases.map(([m, h]) => tunnelProtocol(m, h)), cases.map((c) => c[2]));
});

t.test('upgradeHeaders: the planned head, :protocol, meshlet-proto and forwarded', async (t) => {
  const lease = { release: () => undefined } as unknown as Lease;
  const headers = upgradeHeaders({ protocol: 'websocket', path: '/v2/chat?room=1', authority: 'ws.demo', headers: { 'sec-websocket-key': 'k', 'x-multi': ['a', 'b'] }, rest: Buffer.alloc(0), lease }, '10.0.0.1:5555');
  t.same(headers, {
    'sec-websocket-key': 'k',
    'x-multi': ['a', 'b'],
    ':protocol': 'websocket',
    ':path': '/v2/chat?room=1',
    ':authority': 'ws.demo',
    'meshlet-proto': 'HTTP/1.1',
    forwarded: 'for="10.0.0.1:5555"',
  });
  t.equal(headers[':method'], undefined, 'the pool sets :method, :scheme and meshlet-dst');
});

t.test('responseHead: status line, headers (repeated ones on their own lines), extra lines last and winning', async (t) => {
  t.equal(
    responseHead(101, { 'sec-websocket-accept': 'x', 'set-cookie': ['a=1', 'b=2'], connection: 'keep-alive' }, { connection: 'upgrade', upgrade: 'websocket' }),
    'HTTP/1.1 101 Switching Protocols\r\nsec-websocket-accept: x\r\nset-cookie: a=1\r\nset-cookie: b=2\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n',
  );
  t.equal(responseHead(599, {}, {}), 'HTTP/1.1 599 \r\n\r\n', 'an unknown status keeps an empty reason phrase');
});

t.test('failureResponse: the status of respond(kind), x-meshlet-failure, a one-line reason', async (t) => {
  const text = failureResponse('tunnel_timeout', 'no answer\r\nin time');
  t.equal(text, 'HTTP/1.1 504 Gateway Timeout\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 18\r\nx-meshlet-failure: tunnel_timeout\r\nconnection: close\r\n\r\nno answer in time\n');
  t.match(failureResponse('tunnel_reset', 'r'), /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  t.match(failureResponse('tunnel_failed', 'r'), /^HTTP\/1\.1 503 /);
});
