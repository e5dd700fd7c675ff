/**
 * `meshlet tap` and `GET /tap` against a running agent (in-process, on 127.0.0.1): a connection
 * opened while the tap runs shows; filters hide what they do not match; a tap client that
 * never reads is cut off while traffic through the agent goes on; the cap on streams; bad
 * filter values are 400s naming the parameter; `meshlet top --once -o json` shows the pair
 * of requests made while it watched.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import http from 'node:http';
import t from 'tap';
import type { AdminIo } from '../../../src/cli/admin-client.js';
import { tap } from '../../../src/cli/tap-command.js';
import { top } from '../../../src/cli/top-command.js';
import { CLIENT_ID, request, SERVER_ID, tapRig, tunnelRoundTrip, until, type TapRig } from './tap-rig.js';

/** An io that records what a command writes. */
function recordingIo(): AdminIo & { out: string; err: string; code: number | undefined } {
  const io = {
    out: '',
    err: '',
    code: undefined as number | undefined,
    stdout: (s: string) => void (io.out += s),
    stderr: (s: string) => void (io.err += s),
    exit: (c: number) => void (io.code = c),
  };
  return io;
}

/** What the digest backend answers for `payload`. */
const digest = (payload: string): string => JSON.stringify({ n: payload.length, sha256: createHash('sha256').update(payload).digest('hex') });

const lines = (text: string): Array<Record<string, unknown>> => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

/** Reads a raw `GET /tap` stream's lines as they come; `end` resolves with every line once it ends. */
function rawTap(rig: TapRig, query: string): { lines: Array<Record<string, unknown>>; end: Promise<Array<Record<string, unknown>>>; abort: () => void } {
  const got: Array<Record<string, unknown>> = [];
  const ctl = new AbortController();
  const end = (async () => {
    const res = await fetch(`${rig.admin}/tap?${query}`, { headers: rig.auth, signal: ctl.signal });
    if (res.status !== 200 || res.body === null) throw new Error(`/tap answered ${res.status}: ${await res.text()}`);
    let rest = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) {
        rest += decoder.decode(chunk as Uint8Array, { stream: true });
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          got.push(JSON.parse(rest.slice(0, nl)) as Record<string, unknown>);
          rest = rest.slice(nl + 1);
        }
      }
    } catch (err) {
      if (!ctl.signal.aborted) throw err;
    }
    return got;
  })();
  return { lines: got, end, abort: () => ctl.abort() };
}

t.test('meshlet tap shows a connection opened while it runs, then its close', async (t) => {
  const rig = await tapRig(t);
  const io = recordingIo();
  const run = tap(io, { admin: rig.admin, adminTokenFile: rig.tokenFile, output: 'json', max: '2', kind: 'connection' });
  await until('the tap stream has started', () => io.out.includes('"tap.start"'));
  t.equal(rig.adminServer.tap.size, 1, 'one stream open at the agent');
  t.equal(await tunnelRoundTrip(rig, 'tapped'), digest('tapped'), 'the connection went through');
  t.equal(await run, 0, 'tap exits 0 after --max 2 events');
  const events = lines(io.out).filter((l) => String(l['type']).startsWith('connection.'));
  t.same(events.map((e) => e['type']), ['connection.open', 'connection.close'], 'an open, then a close');
  const [opened, closed] = events;
  t.match(opened, { direction: 'inbound', mode: 'tunnel', src_identity: CLIENT_ID, dst_workload: 'Pod/demo/server', dst_identity: SERVER_ID, security_policy: 'mutual_tls' });
  t.equal(opened?.['worker'], process.pid, 'carried by the agent process itself');
  t.match(closed, { direction: 'inbound', outcome: 'ok', response_flags: '-', bytes_sent: 6, dst_workload: 'Pod/demo/server' });
  t.equal(closed?.['id'], opened?.['id'], 'the same connection');
  t.equal(lines(io.out).at(-1)?.['reason'], 'max', 'the stream ends with tap.end, reason max');
  t.equal(rig.adminServer.tap.size, 0, 'the stream is gone at the agent');
});

t.test('filters: an event that does not match is not shown', async (t) => {
  const rig = await tapRig(t);
  const io = recordingIo();
  const cli = tap(io, { admin: rig.admin, adminTokenFile: rig.tokenFile, max: '2', identity: 'demo/client', workload: 'demo/server' });
  const others = ['workload=other', 'kind=request', 'namespace=elsewhere', 'identity=spiffe://cluster.local/ns/demo/sa/nobody', 'outcome=failed'].map((q) => rawTap(rig, q));
  await until('every stream has started', () => rig.adminServer.tap.size === 6 && others.every((o) => o.lines.length === 1) && io.err.includes('tapping'));
  t.equal(await tunnelRoundTrip(rig, 'filtered'), digest('filtered'), 'the connection went through');
  t.equal(await cli, 0, 'the matching tap got its two events and exited 0');
  const shown = io.out.split('\n').filter((l) => l !== '');
  t.equal(shown.length, 2, 'two human lines');
  t.match(shown[0], /^\d\d:\d\d:\d\d\.\d{3} open {4}inbound tunnel {2}sa:demo\/client -> demo\/server {2}/, 'an open line naming the destination workload');
  t.match(shown[1], / close {3}inbound tunnel .* sent=8B .* ok flags=-$/, 'a close line with its bytes and outcome');
  // The hub writes an event to every stream it matches in the same turn; ending the streams now
  // puts tap.end behind anything they were sent.
  rig.adminServer.tap.close();
  for (const [i, o] of others.entries()) {
    const got = await o.end;
    t.same(got.map((l) => l['type']), ['tap.start', 'tap.end'], `stream ${i} (${['workload=other', 'kind=request', 'namespace=elsewhere', 'another identity', 'outcome=failed'][i]}) saw no event`);
  }
});

t.test('a tap client that never reads is cut off; traffic through the agent goes on', async (t) => {
  const rig = await tapRig(t, { tap: { limits: { maxQueuedLines: 20, maxQueuedBytes: 16 * 1024, endGraceMs: 120_000 } } });
  const port = Number(new URL(rig.admin).port);
  const stalled = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => stalled.once('connect', resolve));
  stalled.pause();
  stalled.write(`GET /tap?kind=request HTTP/1.1\r\nHost: admin\r\nAuthorization: ${rig.auth['authorization']}\r\n\r\n`);
  await until('the stalled stream is open', () => rig.adminServer.tap.size === 1);
  const cut = async (): Promise<number> => Number(/^meshlet_tap_disconnected_total\{reason="slow_reader"\} (\d+)$/m.exec(await rig.agent.metrics.registry.metrics())?.[1] ?? 0);
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.teardown(() => keepAlive.destroy());
  const statuses = new Map<number, number>();
  let sent = 0;
  // Long paths make each event ~1.2 KiB: the socket buffers fill after a few hundred requests.
  const long = 'x'.repeat(1000);
  while ((await cut()) === 0 && sent < 20_000) {
    const batch = await Promise.all(Array.from({ length: 16 }, (_, i) => request(rig, `/p/${long}?i=${sent + i}`, keepAlive)));
    sent += batch.length;
    for (const r of batch) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  }
  t.equal(await cut(), 1, 'the stalled stream was cut off, counted once');
  t.ok(sent < 20_000, `cut off after ${sent} requests, before the loop's bound`);
  t.equal(rig.adminServer.tap.size, 0, 'and is no longer fed');
  const after = await Promise.all(Array.from({ length: 16 }, (_, i) => request(rig, `/after?i=${i}`, keepAlive)));
  for (const r of after) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  t.same([...statuses], [[200, sent + 16]], `every request answered 200 (${sent} while the reader stalled, 16 after)`);
  // The reader wakes up: what the agent had handed the socket, then the final line saying why.
  let data = '';
  stalled.setEncoding('utf8');
  stalled.on('data', (d: string) => (data += d));
  stalled.resume();
  await until('the stalled stream ends', () => data.includes('"tap.end"'));
  const last = data.split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '{}';
  t.match(JSON.parse(last) as Record<string, unknown>, { type: 'tap.end', reason: 'slow_reader' }, 'its last line says it was too slow');
  stalled.destroy();
});

t.test('the cap on concurrent streams: 429 beyond it, counted; drops at the source reach every stream', async (t) => {
  const rig = await tapRig(t, { tap: { maxStreams: 2 } });
  const a = rawTap(rig, '');
  const b = rawTap(rig, 'kind=request');
  await until('two streams are open', () => rig.adminServer.tap.size === 2);
  const third = await fetch(`${rig.admin}/tap`, { headers: rig.auth });
  t.equal(third.status, 429, 'a third is refused');
  t.match((await third.json()) as Record<string, unknown>, { error: /2 tap streams are open/ });
  const metrics = await rig.agent.metrics.registry.metrics();
  t.match(metrics, /^meshlet_tap_refused_total 1$/m, 'the refusal is counted');
  t.match(metrics, /^meshlet_tap_subscribers 2$/m, 'two streams open');
  // Events dropped at a source (a process over its per-second cap, a worker's full channel) are told to every stream.
  rig.adminServer.tap.dropped(5);
  await until('both streams got the drop line', () => a.lines.length === 2 && b.lines.length === 2);
  for (const o of [a, b]) t.match(o.lines[1], { type: 'tap.dropped', count: 5, reason: 'source_rate' });
  t.match(await rig.agent.metrics.registry.metrics(), /^meshlet_tap_events_dropped_total\{reason="source_rate"\} 5$/m, 'and counted');
  a.abort();
  await until('the first stream is gone', () => rig.adminServer.tap.size === 1);
  const again = rawTap(rig, '');
  await until('a new stream is taken', () => rig.adminServer.tap.size === 2 && again.lines.length === 1);
  t.equal(again.lines[0]?.['type'], 'tap.start', 'once one closed, a new one is taken');
  b.abort();
  again.abort();
});

t.test('bad filter values are 400s naming the parameter; the token is required', async (t) => {
  const rig = await tapRig(t);
  const cases: Array<[string, RegExp]> = [
    ['kind=foo', /^kind="foo": must be connection or request/],
    ['namespace=Bad_NS', /^namespace="Bad_NS": not a namespace name/],
    ['outcome=great', /^outcome="great": must be one of ok, error/],
    ['workload=a/b/c/d', /^workload="a\/b\/c\/d": want name/],
    ['identity=spiffe:/x', /^identity="spiffe:\/x": want a SPIFFE id/],
    ['service=', /^service="": empty/],
    ['max=0', /^max="0": want an integer from 1/],
    ['duration=soon', /^duration="soon": want a number of seconds/],
    ['kind=request&kind=connection', /^kind="connection": given more than once/],
    ['bogus=1', /^bogus: unknown parameter/],
  ];
  for (const [query, want] of cases) {
    const res = await fetch(`${rig.admin}/tap?${query}`, { headers: rig.auth });
    t.equal(res.status, 400, `${query}: 400`);
    t.match(((await res.json()) as { error: string }).error, want, `${query}: names the parameter`);
  }
  const anonymous = await fetch(`${rig.admin}/tap`);
  t.equal(anonymous.status, 401, 'no token: 401');
  t.equal(rig.adminServer.tap.size, 0, 'no stream was opened');
  const io = recordingIo();
  t.equal(await tap(io, { admin: rig.admin, adminTokenFile: rig.tokenFile, namespace: 'Bad_NS' }).catch(() => -1), -1, 'the CLI refuses a bad filter before connecting');
});

t.test('meshlet tap: clear errors for an unreachable agent and a wrong token', async (t) => {
  const rig = await tapRig(t);
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadPort = (closed.address() as net.AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  await t.rejects(tap(recordingIo(), { admin: `127.0.0.1:${deadPort}`, adminTokenFile: rig.tokenFile }), { code: 'MESHLET_ERR_ADMIN_UNREACHABLE', message: /cannot reach the agent's admin API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/ });
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const wrong = join(mkdtempSync(join(tmpdir(), 'meshlet-tap-token-')), 'token');
  writeFileSync(wrong, `${'ab'.repeat(16)}\n`, { mode: 0o600 });
  await t.rejects(tap(recordingIo(), { admin: rig.admin, adminTokenFile: wrong }), { code: 'MESHLET_ERR_ADMIN_UNAUTHORIZED', message: /\/tap answered 403: the token in .* is not the agent's/ });
});

t.test('meshlet top --once -o json shows the pair of the requests made while it watched', async (t) => {
  const rig = await tapRig(t);
  const io = recordingIo();
  const run = top(io, { admin: rig.admin, adminTokenFile: rig.tokenFile, once: true, interval: '5s', output: 'json' });
  await until('top is watching', () => rig.adminServer.tap.size === 1);
  const statuses = [];
  for (const path of ['/a', '/b', '/c', '/status/503', '/status/503']) statuses.push((await request(rig, path)).status);
  t.same(statuses, [200, 200, 200, 503, 503], 'the requests were answered');
  t.equal(await run, 0, 'top --once exits 0');
  const out = lines(io.out);
  t.equal(out.length, 1, 'one JSON object');
  const pairs = (out[0]?.['pairs'] ?? []) as Array<Record<string, unknown>>;
  const pair = pairs.find((p) => p['source'] === 'demo/client' && p['destination'] === 'demo/server');
  t.match(pair, { requests: 5, errors: 2, error_rate: 0.4 }, 'client -> server: 5 requests, 2 errors');
  t.type(pair?.['p99_ms'], 'number', 'with latency percentiles');
  // The client's one keep-alive connection was served at L7: it goes to the Service, not to one workload.
  const connection = pairs.find((p) => p['source'] === 'demo/client' && p['destination'] === 'svc:demo/web');
  t.match(connection, { requests: 0, connections: 1 }, 'client -> the Service: one connection');
});
