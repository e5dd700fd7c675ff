/**
 * Every admin endpoint against a running agent, in-process on 127.0.0.1 with port 0.
 */
import t from 'tap';
import { defaultMaxConnections } from '../../../src/agent/policy/workload-limit.js';
import { openFilesLimit } from '../../../src/ops/open-files-limit.js';
import { adminRig, CLIENT_ID, idle, readAll, SERVER_ID, status, type AdminRig } from './admin-rig.js';
import { waitFor } from '../../helpers/wait-for.js';

/** fetch with the rig's admin token (the token's own tests are in admin-attacks.test.ts). */
function afetch(rig: AdminRig, url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers: { ...rig.auth, ...(init.headers as Record<string, string> | undefined) } });
}

async function json(rig: AdminRig, url: string, init?: RequestInit): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await afetch(rig, url, init);
  return { status: res.status, headers: res.headers, body: await res.json() };
}

t.test('GET / lists every endpoint and the web page; unknown paths are 404', async (t) => {
  const rig = await adminRig(t);
  const index = await json(rig, `${rig.admin}/`);
  t.equal(index.status, 200);
  const paths = (index.body as Array<{ path: string }>).map((e) => e.path).sort();
  t.same(paths, ['/', '/certs', '/config_dump', '/connections', '/endpoints', '/healthz', '/iptables', '/logging', '/memory', '/node', '/policies', '/policy/explain', '/quitquitquit', '/ready', '/resilience', '/routes', '/services', '/tap', '/ui', '/usage', '/version', '/workloads']);
  const ui = (index.body as Array<{ path: string; method: string; token: boolean }>).find((e) => e.path === '/ui');
  t.same({ method: ui?.method, token: ui?.token }, { method: 'GET', token: false }, 'the web page is listed as public');
  const page = await fetch(`${rig.admin}/ui`);
  t.equal(page.status, 200, 'and it answers without the token, as listed');
  t.match(page.headers.get('content-type'), /text\/html/);
  t.equal((await afetch(rig, `${rig.admin}/nope`)).status, 404);
});

t.test('/config_dump: version, age, listeners, certificates without keys', async (t) => {
  const rig = await adminRig(t);
  const res = await afetch(rig, `${rig.admin}/config_dump`);
  const text = await res.text();
  t.equal(res.status, 200);
  t.notMatch(text, /PRIVATE KEY/, 'no private key anywhere');
  const dump = JSON.parse(text) as { version: string; ageSeconds: number; listeners: { tunnel: { port: number } }; certificates: Array<{ identity: string }>; snapshot: { localWorkloads: unknown[] } };
  t.equal(dump.version, 'v1');
  t.ok(dump.ageSeconds >= 0, `the age: ${dump.ageSeconds}`);
  t.ok(dump.listeners.tunnel.port > 0, `the bound listeners: tunnel port ${dump.listeners.tunnel.port}`);
  t.same(dump.certificates.map((c) => c.identity), [SERVER_ID]);
  t.equal(dump.snapshot.localWorkloads.length, 1);
});

t.test('/workloads, /services, /certs (JSON and text)', async (t) => {
  const rig = await adminRig(t);
  // A local workload shows its connection cap: no annotation, so the default of this process's open-files limit.
  const maxConnections = defaultMaxConnections(openFilesLimit());
  t.same((await json(rig, `${rig.admin}/workloads`)).body, [{ uid: 'Pod/demo/server', addresses: '127.0.0.1', node: 'node1', identity: SERVER_ID, tlsMode: 'STRICT', local: true, maxConnections, limit: 'default' }]);
  t.same((await json(rig, `${rig.admin}/services`)).body, []);
  const certs = (await json(rig, `${rig.admin}/certs`)).body as Array<{ identity: string; serial: string; secondsLeft: number; notAfter: string }>;
  t.equal(certs.length, 1);
  t.equal(certs[0]?.identity, SERVER_ID);
  t.ok((certs[0]?.secondsLeft ?? 0) > 3600, `more than an hour left: ${certs[0]?.secondsLeft} s`);
  t.match(certs[0]?.serial, /^[0-9a-fA-F]+$/);
  const text = await afetch(rig, `${rig.admin}/certs?format=text`);
  t.match(text.headers.get('content-type'), /text\/plain/);
  t.match(await text.text(), /^IDENTITY\s+SERIAL\s+NOTBEFORE\s+NOTAFTER\s+SECONDSLEFT\n/);
});

t.test('/connections shows a live connection with its identity, workload and bytes', async (t) => {
  const rig = await adminRig(t);
  const stream = await rig.connect('127.0.0.1', rig.backendPort);
  const answer = readAll(stream);
  t.equal(await status(stream), 200);
  stream.write(Buffer.alloc(4321));
  let rows: Array<Record<string, unknown>> = [];
  // Wait for the bytes to reach the workload (the count is read from its socket).
  await waitFor('4321 bytes sent', async () => {
    rows = (await json(rig, `${rig.admin}/connections`)).body as Array<Record<string, unknown>>;
    return rows[0]?.['bytesSent'] === 4321;
  });
  t.equal(rows.length, 1);
  t.match(rows[0], {
    direction: 'inbound', mode: 'tunnel', destination: `127.0.0.1:${rig.backendPort}`, sourceIdentity: CLIENT_ID,
    destinationWorkload: 'Pod/demo/server', destinationIdentity: SERVER_ID, securityPolicy: 'mutual_tls', bytesSent: 4321, bytesReceived: 0,
  });
  t.type(rows[0]?.['ageSeconds'], 'number');
  stream.end();
  await answer;
  await idle(rig.agent);
  t.same((await json(rig, `${rig.admin}/connections`)).body, []);
});

t.test('/usage attributes a connection\'s bytes and the agent\'s CPU to the local workload', async (t) => {
  const rig = await adminRig(t);
  const stream = await rig.connect('127.0.0.1', rig.backendPort);
  const answer = readAll(stream);
  t.equal(await status(stream), 200);
  stream.write(Buffer.alloc(4321));
  type Usage = { dataPathCpuCores: number; workloads: Array<Record<string, unknown>> };
  let usage: Usage = { dataPathCpuCores: 0, workloads: [] };
  // Each call sweeps; the split happens once a second has passed since the last one.
  await waitFor('the bytes under the destination workload', async () => {
    usage = (await json(rig, `${rig.admin}/usage`)).body as Usage;
    return usage.workloads.some((w) => w['bytesInbound'] === 4321);
  });
  const row = usage.workloads.find((w) => w['workload'] === 'server');
  t.equal(row?.['namespace'], 'demo');
  t.equal(row?.['bytesInbound'], 4321, 'inbound: the destination is the local workload');
  t.equal(row?.['bytesOutbound'], 0);
  t.equal(usage.workloads.length, 1, 'the remote client is no local workload');
  t.type(row?.['cpuSeconds'], 'number');
  t.type(usage.dataPathCpuCores, 'number');
  stream.end();
  await answer;
});

t.test('/iptables reports the drift the capture rules found', async (t) => {
  const rig = await adminRig(t);
  const drifted = (await json(rig, `${rig.admin}/iptables`)).body as { managed: boolean; inSync: boolean; detail: unknown };
  t.match(drifted, { managed: true, inSync: false, detail: { ipv4: { missing: ['-A MESHLET_OUTPUT ...'] } } });
  rig.capture.drift = { inSync: true, detail: {} };
  t.match((await json(rig, `${rig.admin}/iptables`)).body, { managed: true, inSync: true });
  t.equal(rig.capture.verifications, 2, 'checked fresh on each request');
});

t.test('/node: CPU, memory, load, interfaces, kernel, conntrack', async (t) => {
  const rig = await adminRig(t);
  const node = (await json(rig, `${rig.admin}/node`)).body as Record<string, unknown> & { cpu: { cores: number }; interfaces: Array<{ name: string }> };
  t.ok(node.cpu.cores >= 1, `at least one core: ${node.cpu.cores}`);
  t.match(node, { memory: { totalBytes: Number }, load: Array, kernel: String });
  const names = node.interfaces.map((i) => i.name);
  t.same(names.filter((name) => name === 'lo'), ['lo'], `the loopback interface is listed (listed: ${names.join(', ')})`);
  t.hasOwnProp(node, 'conntrack', 'conntrack usage (null when the host has none)');
});

t.test('/healthz and /ready', async (t) => {
  const rig = await adminRig(t);
  t.same((await json(rig, `${rig.admin}/healthz`)).body, { ok: true });
  const ready = await json(rig, `${rig.admin}/ready`);
  t.equal(ready.status, 200);
  t.match(ready.body, { ready: true, pending: [], version: 'v1' });
});

t.test('POST /logging changes the level, for all or one component; bad input changes nothing', async (t) => {
  const rig = await adminRig(t);
  const levels = rig.agent.logLevels;
  t.equal(levels.child('outbound').level, 'silent');
  const all = await json(rig, `${rig.admin}/logging?level=debug`, { method: 'POST' });
  t.equal(all.status, 200);
  t.equal(levels.root.level, 'debug');
  t.equal(levels.child('outbound').level, 'debug', 'an existing component follows');
  const one = await json(rig, `${rig.admin}/logging`, { method: 'POST', body: JSON.stringify({ level: 'warn', component: 'inbound' }) });
  t.match(one.body, { root: 'debug', components: { inbound: 'warn', outbound: 'debug' } });
  t.equal(levels.child('inbound').level, 'warn');
  for (const bad of ['?level=loud', '?level=info&component=nope', '']) {
    const res = await json(rig, `${rig.admin}/logging${bad}`, { method: 'POST' });
    t.equal(res.status, 400, `POST /logging${bad} is refused`);
    t.match(res.body, { error: String });
  }
  t.match((await json(rig, `${rig.admin}/logging`)).body, { root: 'debug', components: { inbound: 'warn' } }, 'GET shows the levels, unchanged by bad input');
  t.equal((await afetch(rig, `${rig.admin}/logging`, { method: 'PUT' })).status, 405);
  t.equal((await json(rig, `${rig.admin}/logging?level=silent`, { method: 'POST' })).status, 200, 'quiet again for the teardown');
});

t.test('/quitquitquit: GET is 405, POST starts the quit once', async (t) => {
  const rig = await adminRig(t);
  const get = await json(rig, `${rig.admin}/quitquitquit`);
  t.equal(get.status, 405);
  t.equal(get.headers.get('allow'), 'POST');
  t.equal(rig.quits, 0);
  t.equal((await afetch(rig, `${rig.admin}/quitquitquit`, { method: 'POST' })).status, 202);
  t.equal((await afetch(rig, `${rig.admin}/quitquitquit`, { method: 'POST' })).status, 202);
  await new Promise((r) => setImmediate(r));
  t.equal(rig.quits, 1, 'the quit callback ran once');
  t.equal((await afetch(rig, `${rig.admin}/certs`, { method: 'POST' })).status, 405, 'read-only endpoints refuse POST');
});
