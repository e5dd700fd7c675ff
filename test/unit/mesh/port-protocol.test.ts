/**
 * A Service port's declared protocol: Kubernetes appProtocol values, Istio's port-name prefixes,
 * the operator's opaque list, and detection for everything else.
 */
import t from 'tap';
import { portProtocol } from '../../../src/mesh/port-protocol.js';

const port = (name?: string, appProtocol?: string, n = 8080) => ({
  port: n,
  ...(name === undefined ? {} : { name }),
  ...(appProtocol === undefined ? {} : { appProtocol }),
});

t.test('appProtocol: Kubernetes standard values and protocol words', async (t) => {
  t.equal(portProtocol(port(undefined, 'kubernetes.io/h2c')), 'http2');
  t.equal(portProtocol(port(undefined, 'kubernetes.io/ws')), 'http');
  t.equal(portProtocol(port(undefined, 'kubernetes.io/wss')), 'tcp');
  t.equal(portProtocol(port(undefined, 'http')), 'http');
  t.equal(portProtocol(port(undefined, 'HTTP')), 'http', 'case-insensitive');
  t.equal(portProtocol(port(undefined, 'http2')), 'http2');
  t.equal(portProtocol(port(undefined, 'grpc')), 'grpc');
  t.equal(portProtocol(port(undefined, 'grpc-web')), 'http');
  t.equal(portProtocol(port(undefined, 'tcp')), 'tcp');
  t.equal(portProtocol(port(undefined, 'https')), 'tcp');
  t.equal(portProtocol(port(undefined, 'mysql')), 'tcp');
});

t.test('appProtocol wins over the name when meshlet knows it', async (t) => {
  t.equal(portProtocol(port('http-web', 'tcp')), 'tcp', 'declared opaque despite an http- name');
  t.equal(portProtocol(port('tcp-raw', 'http')), 'http');
  t.equal(portProtocol(port('grpc-api', 'example.com/custom')), 'grpc', 'an unknown appProtocol falls back to the name');
  t.equal(portProtocol(port('web', 'example.com/custom')), 'detect');
});

t.test('Istio port-name prefixes', async (t) => {
  const cases: Array<[string, string]> = [
    ['http', 'http'], ['http-web', 'http'], ['HTTP-Web', 'http'], ['http2', 'http2'], ['http2-api', 'http2'],
    ['grpc', 'grpc'], ['grpc-api', 'grpc'], ['grpc-web', 'http'], ['grpc-web-ui', 'http'],
    ['tcp', 'tcp'], ['tcp-metrics', 'tcp'], ['tls-passthrough', 'tcp'], ['https', 'tcp'], ['https-admin', 'tcp'],
    ['mongo', 'tcp'], ['mysql-primary', 'tcp'], ['redis-cache', 'tcp'], ['udp-dns', 'tcp'],
    ['web', 'detect'], ['httpx', 'detect'], ['api-http', 'detect'], ['-http', 'detect'], ['grpcweb', 'detect'],
  ];
  t.same(cases.map(([name]) => [name, portProtocol(port(name))]), cases);
});

t.test('no name and no appProtocol: detect', async (t) => {
  t.equal(portProtocol(port()), 'detect');
});

t.test("the operator's opaque ports win over everything", async (t) => {
  const opaquePorts = new Set([25, 3306]);
  t.equal(portProtocol(port('http-web', 'http', 3306), { opaquePorts }), 'tcp');
  t.equal(portProtocol(port(undefined, undefined, 25), { opaquePorts }), 'tcp');
  t.equal(portProtocol(port(undefined, undefined, 80), { opaquePorts }), 'detect', 'other ports still detect');
});
