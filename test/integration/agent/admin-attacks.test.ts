/**
 * Attacks on the admin port from another process of the node (in-process here, 127.0.0.1):
 * calls without or with a wrong token, more idle connections than the cap, a slowloris, an
 * oversized body or header. The agent must refuse each, count it, and keep answering.
 */
import { once } from 'node:events';
import net from 'node:net';
import t from 'tap';
import { rawGet } from '../../helpers/raw-http.js';
import { adminRig, type AdminRig } from './admin-rig.js';

/** Small limits so the test pushes past them quickly; timeouts checked every 50 ms. */
const LIMITS = { maxConnections: 4, maxConnectionsPerPeer: 4, headersTimeoutMs: 400, timeoutCheckMs: 50, keepAliveTimeoutMs: 60_000 };

/** A bound for anything the test waits on: generous, so a busy machine does not fail it. */
const WAIT_MS = 10_000;

function port(rig: AdminRig): number {
  return Number(new URL(rig.admin).port);
}

/** One refusal counter value from the agent's /metrics (0 when the series does not exist). */
async function refused(rig: AdminRig, reason: string): Promise<number> {
  const text = await (await fetch(rig.metrics)).text();
  const m = new RegExp(`^meshlet_local_http_refused_total\\{listener="admin",reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** A raw connection to the admin port, its received bytes, and a promise of its close. */
async function raw(p: number): Promise<{ socket: net.Socket; data: () => string; closed: Promise<void> }> {
  const socket = net.connect(p, '127.0.0.1');
  let data = '';
  socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
  socket.on('error', () => undefined); // a reset by the server is what some tests expect
  const closed = once(socket, 'close').then(() => undefined);
  await once(socket, 'connect');
  return { socket, data: () => data, closed };
}

/** Resolves true when `p` settles within `ms`, false otherwise. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  const done = await Promise.race([p.then(() => true), timeout]);
  clearTimeout(timer);
  return done;
}

t.test('mutating calls need the token: none is 401, a wrong one 403, the agent stays up; with it they work', async (t) => {
  const rig = await adminRig(t);
  const none = await fetch(`${rig.admin}/quitquitquit`, { method: 'POST' });
  t.equal(none.status, 401);
  t.equal(none.headers.get('www-authenticate'), 'Bearer realm="meshlet-admin"');
  t.match(await none.json(), { error: /needs the admin token/ });
  const wrongs = [`Bearer ${'0'.repeat(64)}`, `Bearer ${rig.token.slice(0, -1)}`, `Bearer ${rig.token}0`, 'Bearer x', rig.token, `Basic ${rig.token}`];
  for (const authorization of wrongs) {
    t.equal((await fetch(`${rig.admin}/quitquitquit`, { method: 'POST', headers: { authorization } })).status, 403, `"${authorization.slice(0, 12)}…" is refused`);
  }
  const level = await fetch(`${rig.admin}/logging?level=debug`, { method: 'POST' });
  t.equal(level.status, 401, 'log levels too');
  await new Promise((r) => setImmediate(r));
  t.equal(rig.quits, 0, 'no quit reached the agent');
  t.equal(rig.agent.logLevels.levels().root, 'silent', 'no level changed');
  t.equal(await refused(rig, 'unauthorized'), 2);
  t.equal(await refused(rig, 'forbidden'), wrongs.length);
  t.equal((await fetch(`${rig.admin}/healthz`)).status, 200, 'the agent still answers');

  for (const path of ['/config_dump', '/connections', '/endpoints', '/routes', '/workloads', '/services', '/certs', '/iptables', '/node', '/logging', '/usage']) {
    t.equal((await fetch(`${rig.admin}${path}`)).status, 401, `GET ${path} needs the token`);
  }
  for (const path of ['/', '/healthz', '/ready']) t.equal((await fetch(`${rig.admin}${path}`)).status, 200, `GET ${path} is public`);
  t.equal((await fetch(`${rig.admin}/certs`, { method: 'POST' })).status, 401, 'the token is checked before the method');

  t.equal((await fetch(`${rig.admin}/logging?level=warn`, { method: 'POST', headers: rig.auth })).status, 200);
  t.equal(rig.agent.logLevels.levels().root, 'warn', 'with the token the level changes');
  rig.agent.logLevels.set('silent');
  t.equal((await fetch(`${rig.admin}/quitquitquit`, { method: 'POST', headers: { authorization: `bearer  ${rig.token}` } })).status, 202, 'the scheme is case-insensitive');
  await new Promise((r) => setImmediate(r));
  t.equal(rig.quits, 1, 'with the token the quit runs');
});

t.test('more idle connections than the cap: the extra one is closed, a request answers once one goes', async (t) => {
  const rig = await adminRig(t, {}, LIMITS);
  const p = port(rig);
  const held: Array<Awaited<ReturnType<typeof raw>>> = [];
  t.teardown(() => held.forEach((c) => c.socket.destroy()));
  for (let i = 0; i < LIMITS.maxConnections; i++) {
    const c = await raw(p);
    // One answered keep-alive request each: the server has surely accepted these four.
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n');
    await within(new Promise<void>((r) => c.socket.once('data', () => r())), WAIT_MS);
    t.match(c.data(), /^HTTP\/1\.1 200/, `connection ${i + 1} answered and stays open`);
    held.push(c);
  }
  const extra = await raw(p);
  extra.socket.write('GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n');
  t.equal(await within(extra.closed, WAIT_MS), true, 'the connection over the cap is closed');
  t.equal(extra.data(), '', 'without an answer');
  t.equal(await refused(rig, 'max_connections'), 1, 'counted (metrics are on a port of their own)');

  const first = held.shift() as Awaited<ReturnType<typeof raw>>;
  first.socket.write('GET /healthz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n');
  await within(first.closed, WAIT_MS);
  // The server counts the close a moment after the client sees it: retry, bounded.
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    status = await rawGet(p, '/config_dump', rig.auth);
    if (status !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(status, 200, 'a legitimate request answers once a connection is free');
});

t.test('a slowloris (headers never finished) is closed after the headers timeout', async (t) => {
  const rig = await adminRig(t, {}, LIMITS);
  const slow = await raw(port(rig));
  t.teardown(() => slow.socket.destroy());
  slow.socket.write('POST /quitquitquit HTTP/1.1\r\nHost: admin\r\nX-Slow: ');
  const idle = await raw(port(rig));
  t.teardown(() => idle.socket.destroy());
  t.equal(await within(slow.closed, WAIT_MS), true, 'the slow connection is closed');
  t.equal(await within(idle.closed, WAIT_MS), true, 'a connection that never sends is closed too');
  t.match(slow.data(), /^HTTP\/1\.1 408 /, 'answered 408');
  t.equal(await refused(rig, 'timeout'), 2);
  t.equal(rig.quits, 0);
  t.equal((await fetch(`${rig.admin}/healthz`)).status, 200, 'the agent still answers');
});

t.test('an oversized body is refused with 413, declared or chunked; oversized headers with 431', async (t) => {
  const rig = await adminRig(t);
  const big = JSON.stringify({ level: 'debug', pad: 'x'.repeat(8192) });
  const declared = await fetch(`${rig.admin}/logging`, { method: 'POST', headers: { ...rig.auth, 'content-type': 'application/json' }, body: big });
  t.equal(declared.status, 413);
  t.match(await declared.json(), { error: 'request body larger than 4096 bytes' });
  const chunks = (async function* () {
    for (let i = 0; i < 8; i++) yield new TextEncoder().encode(`${'x'.repeat(1024)}`);
  })();
  const chunked = await fetch(`${rig.admin}/logging`, { method: 'POST', headers: rig.auth, body: chunks, duplex: 'half' } as RequestInit);
  t.equal(chunked.status, 413, 'a chunked body past the bound');
  t.equal(rig.agent.logLevels.levels().root, 'silent', 'nothing changed');
  t.equal(await refused(rig, 'body_too_large'), 2);
  const header = await fetch(`${rig.admin}/healthz`, { headers: { 'x-pad': 'x'.repeat(9000) } });
  t.equal(header.status, 431);
  t.equal(await refused(rig, 'header_too_large'), 1);
  t.equal((await fetch(`${rig.admin}/healthz`)).status, 200, 'the agent still answers');
});
