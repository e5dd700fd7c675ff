/**
 * Issue 9 finding 9, in-process on loopback: a tunnel session does not outlive its
 * certificates. The server refuses new streams once the client certificate has expired and
 * closes the session (GOAWAY); the client pool never reuses a session made with other
 * credentials, nor one past its max age.
 */
import t from 'tap';
import { once } from 'node:events';
import { constants as h2 } from 'node:http2';
import type { IdentityCredentials, IdentitySource } from '../../../src/agent/identity/manager.js';
import { CLIENT_ID, SERVER_ID, limitsRig, outcome, until } from './tunnel-limits-rig.js';
import { status } from './tunnel-streams.js';

t.test('after the client certificate expires, a new stream is refused and the session closed', async (t) => {
  const r = await limitsRig(t, {});
  // Whole seconds: the certificate expires 2 to 3 s from now.
  const creds = r.issue(CLIENT_ID, 3);
  const session = r.connect(creds);
  const first = r.connectStream(session);
  t.equal(await status(first), 200, 'a stream while the certificate is valid');
  const wait = creds.notAfter.getTime() - Date.now() + 100;
  t.ok(wait > 0, 'the handshake finished before the certificate expired');
  await new Promise((resolve) => setTimeout(resolve, wait));
  const goaway = once(session, 'goaway');
  const second = await outcome(r.connectStream(session));
  t.same(second, { rstCode: h2.NGHTTP2_REFUSED_STREAM }, 'a new stream after expiry is refused');
  await goaway;
  t.equal(r.limitCounts.get('peer_cert_expired'), 1, 'counted as peer_cert_expired');
  first.end();
  first.resume();
  await new Promise((resolve) => session.once('close', resolve));
  await until(() => r.tunnel.sessionCount === 0, 'the server to close the session');
  t.equal(r.tunnel.connectionCount, 0, 'no connection left');
});

/** An identity source whose credentials the test swaps (a renewal). */
class SwappableIdentities implements IdentitySource {
  constructor(public creds: IdentityCredentials) {}
  get(identity: string): IdentityCredentials | undefined {
    return identity === this.creds.identity ? this.creds : undefined;
  }
  ensure(identity: string): Promise<IdentityCredentials> {
    const c = this.get(identity);
    return c === undefined ? Promise.reject(new Error(`no ${identity}`)) : Promise.resolve(c);
  }
  getBySni(): IdentityCredentials | undefined {
    return undefined;
  }
  ensureBySni(): Promise<IdentityCredentials> | undefined {
    return undefined;
  }
}

t.test('the client pool never reuses a session made with other credentials', async (t) => {
  const r = await limitsRig(t, {});
  const ids = new SwappableIdentities(r.issue(CLIENT_ID));
  const pool = r.pool({ identities: ids, maxTickets: 0 });
  const target = { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: r.backendPort };
  const a = await pool.open(CLIENT_ID, target);
  t.equal(await status(a), 200, 'first stream');
  const b = await pool.open(CLIENT_ID, target);
  t.equal(await status(b), 200, 'second stream');
  t.equal(pool.size, 1, 'same credentials: one session');
  ids.creds = r.issue(CLIENT_ID);
  const c = await pool.open(CLIENT_ID, target);
  t.equal(await status(c), 200, 'a stream after the renewal');
  t.equal(pool.size, 2, 'renewed credentials: a new session');
  await until(() => r.tunnel.sessionCount === 2, 'the server to see two sessions');
  t.equal(r.tunnel.sessionCount, 2, 'the server saw the new handshake');
});

t.test('the client pool retires a session at its max age', async (t) => {
  const r = await limitsRig(t, {});
  const pool = r.pool({ sessionMaxAgeMs: 300, maxTickets: 0 });
  const target = { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: r.backendPort };
  const a = await pool.open(CLIENT_ID, target);
  t.equal(await status(a), 200, 'first stream');
  await new Promise((resolve) => setTimeout(resolve, 400));
  const b = await pool.open(CLIENT_ID, target);
  t.equal(await status(b), 200, 'a stream after the max age');
  t.equal(pool.size, 1, 'the old session left the pool');
  a.end();
  a.resume();
  await until(() => r.tunnel.sessionCount === 1, 'the old session to close once its stream ended');
  t.equal(r.tunnel.sessionCount, 1, 'one session left on the server');
});
