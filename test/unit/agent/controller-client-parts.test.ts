/**
 * The controller client's pure parts: reconnect backoff, the controller identity check, and
 * gRPC failures as MeshletError codes.
 */
import t from 'tap';
import type { PeerCertificate } from 'node:tls';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { Backoff } from '../../../src/ops/backoff.js';
import { fromServiceError } from '../../../src/agent/control/errors.js';
import { checkControllerIdentity } from '../../../src/agent/control/tls.js';
import { controllerIdentity } from '../../../src/mesh/snapshot-wire/encode.js';

t.test('backoff doubles from 200 ms to a 30 s ceiling, jittered within the upper half', async (t) => {
  const low = new Backoff({ random: () => 0 });
  t.same(Array.from({ length: 10 }, () => low.next()), [100, 200, 400, 800, 1600, 3200, 6400, 12800, 15000, 15000]);
  const high = new Backoff({ random: () => 0.999999 });
  t.same(Array.from({ length: 10 }, () => high.next()), [199, 399, 799, 1599, 3199, 6399, 12799, 25599, 29999, 29999]);
  t.equal(high.attempts, 10);
  high.reset();
  t.equal(high.next(), 199, 'a working connection resets it');
  const many = new Backoff({ initialMs: 50, maxMs: 1000 });
  for (let i = 0; i < 100; i++) many.next();
  const d = many.next();
  t.ok(d >= 500, `after 100 failures not below half the ceiling: ${d}`);
  t.ok(d < 1000, `after 100 failures still below the ceiling: ${d}`);
  t.equal(new Backoff({ initialMs: 500, maxMs: 100 }).maxMs, 500, 'a ceiling below the start is raised to it');
});

t.test('the controller must present exactly the controller SPIFFE ID', async (t) => {
  const check = checkControllerIdentity('cluster.local');
  const cert = (san: string | undefined): PeerCertificate => ({ subjectaltname: san, ext_key_usage: ['1.3.6.1.5.5.7.3.1'] }) as unknown as PeerCertificate;
  t.equal(check('meshlet-controller', cert(`URI:${controllerIdentity('cluster.local')}`)), undefined);
  t.equal(check('x', cert(`DNS:controller, URI:${controllerIdentity('cluster.local')}`)), undefined, 'other names may come along');
  t.match(check('x', cert('URI:spiffe://cluster.local/ns/demo/sa/web')), { code: 'MESHLET_ERR_CONTROLLER', message: /is for spiffe:\/\/cluster.local\/ns\/demo\/sa\/web, not spiffe:\/\/cluster.local\/ns\/meshlet-system\/sa\/meshlet-controller/ });
  t.match(check('x', cert(`URI:${controllerIdentity('other.example')}`)), { message: /not spiffe:\/\/cluster.local/ }, 'another trust domain');
  t.match(check('x', cert(undefined)), { message: /is for no SPIFFE ID/ });
  t.match(check('x', cert(`URI:"${controllerIdentity('cluster.local')}, DNS:x"`)), { message: /not spiffe/ }, 'a quoted SAN cannot smuggle the ID in');
  t.match(check('x', cert(`URI:${controllerIdentity('cluster.local')}, URI:spiffe://cluster.local/ns/demo/sa/web`)), { message: /not spiffe/ }, 'a second SPIFFE ID is refused');
});

t.test('the controller\'s certificate must be a serving certificate: serverAuth without clientAuth', async (t) => {
  const check = checkControllerIdentity('cluster.local');
  const san = `URI:${controllerIdentity('cluster.local')}`;
  const cert = (ext_key_usage: string[] | undefined): PeerCertificate => ({ subjectaltname: san, ext_key_usage }) as unknown as PeerCertificate;
  t.equal(check('x', cert(['1.3.6.1.5.5.7.3.1'])), undefined, 'serverAuth alone: the controller profile');
  t.match(check('x', cert(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'])), { code: 'MESHLET_ERR_CONTROLLER', message: /not a controller serving certificate/ }, 'a workload leaf (serverAuth and clientAuth)');
  t.match(check('x', cert(['1.3.6.1.5.5.7.3.2'])), { code: 'MESHLET_ERR_CONTROLLER' }, 'clientAuth alone');
  t.match(check('x', cert(undefined)), { code: 'MESHLET_ERR_CONTROLLER', message: /extKeyUsage none/ }, 'no extKeyUsage at all');
});

t.test('gRPC failures become MeshletErrors: the controller\'s code first, else the status', async (t) => {
  const err = (code: status, details: string, carried?: string): ServiceError => {
    const metadata = new Metadata();
    if (carried !== undefined) metadata.set('x-meshlet-error-code', carried);
    return Object.assign(new Error(details), { code, details, metadata });
  };
  t.match(fromServiceError(err(status.PERMISSION_DENIED, 'not on node-a', 'MESHLET_ERR_CERT_NOT_AUTHORIZED'), 'signing'), {
    code: 'MESHLET_ERR_CERT_NOT_AUTHORIZED',
    message: 'signing: controller answered PERMISSION_DENIED: not on node-a',
  });
  t.match(fromServiceError(err(status.UNAUTHENTICATED, 'bad token'), 'x'), { code: 'MESHLET_ERR_UNAUTHENTICATED' });
  t.match(fromServiceError(err(status.PERMISSION_DENIED, 'no'), 'x'), { code: 'MESHLET_ERR_CERT_NOT_AUTHORIZED' });
  t.match(fromServiceError(err(status.INVALID_ARGUMENT, 'bad csr'), 'x'), { code: 'MESHLET_ERR_CERT' });
  t.match(fromServiceError(err(status.UNAVAILABLE, 'no connection'), 'x'), { code: 'MESHLET_ERR_CONTROLLER' });
  t.match(fromServiceError(err(status.INTERNAL, 'x', 'NOT_A_CODE'), 'x'), { code: 'MESHLET_ERR_CONTROLLER' }, 'an unknown carried code is not trusted');
  t.match(fromServiceError(err(status.INTERNAL, 'CA expired', 'MESHLET_ERR_CA'), 'x'), { code: 'MESHLET_ERR_CA' }, 'other codes are kept');
  t.match(fromServiceError(err(status.UNAVAILABLE, 'closed', 'MESHLET_ERR_CLOSED'), 'x'), { code: 'MESHLET_ERR_CONTROLLER' }, 'the controller closing is a controller failure');
});
