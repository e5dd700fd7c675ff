/**
 * Authorization end to end in a lab (issue 12): two nodes with real agents, real capture and
 * tunnels. AuthorizationPolicies are written into the lab's config directory while the agents
 * run; every case sends real traffic and asks `meshlet policy explain` (offline, on the same
 * directory) first: the data path and explain must agree.
 *
 * node1: client (sa client), other (sa other), near (sa web, app web-near), outsider (namespace
 * `plain`, not meshed). node2: web (sa web, app web), db (sa db, app db). Every pod of `web`,
 * `web-near` and `db` runs a ping server on 5000 and the HTTP peer (8080 HTTP, 9090 gRPC).
 */
import t, { type Test } from 'tap';
import { execFile, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadStaticSnapshot } from '../../../src/cli/static-source.js';
import { REPO_ROOT, withLab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';
import { connectionLines, lineReader, logLines, peer, requestLines, startServer, until, type Json } from './l7-lab.js';

t.setTimeout(300_000);

const PING = join(REPO_ROOT, 'dist/test/e2e/datapath/peer.js');
const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
const TD = 'cluster.local';
const id = (sa: string, ns = 'demo'): string => `${TD}/ns/${ns}/sa/${sa}`;

const topology: LabTopology = {
  name: `az${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [
    { name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } },
    { name: 'plain', labels: {} },
  ],
  pods: [
    { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
    { name: 'other', namespace: 'demo', node: 'node1', serviceAccount: 'other', labels: { app: 'other' } },
    { name: 'near', namespace: 'demo', node: 'node1', serviceAccount: 'web', labels: { app: 'web-near' } },
    { name: 'outsider', namespace: 'plain', node: 'node1' },
    { name: 'web', namespace: 'demo', node: 'node2', serviceAccount: 'web', labels: { app: 'web' } },
    { name: 'db', namespace: 'demo', node: 'node2', serviceAccount: 'db', labels: { app: 'db' } },
  ],
  services: [
    { name: 'web', namespace: 'demo', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'tcp-ping', port: 5000, targetPort: 5000 }] },
    { name: 'db', namespace: 'demo', selector: { app: 'db' }, ports: [{ name: 'tcp-ping', port: 5000, targetPort: 5000 }] },
  ],
  meshTLS: [{ name: 'web-permissive', namespace: 'demo', mode: 'PERMISSIVE', selector: { app: 'web' } }],
};

/** An AuthorizationPolicy document. */
function policy(name: string, spec: string, namespace = 'demo', apiVersion = 'meshlet.io/v1alpha1'): string {
  return `apiVersion: ${apiVersion}\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec:\n${spec.replace(/^/gm, '  ')}\n`;
}

t.test('authorization through two agents: L4 and L7 rules, every path, live changes, explain agrees', async (t) => {
  if (!requireNamespaces(t)) return;
  await withLab(topology, {}, async (lab) => {
    const children: ChildProcess[] = [];
    // Independent pods: their servers start at once (each resolves when its own listens).
    children.push(...(await Promise.all(['web', 'db', 'near'].map((pod) => startServer(lab, pod)))));
    for (const pod of ['web', 'db', 'near']) children.push(lab.spawnNode(pod, PING, ['server', '5000']));
    const addr = (pod: string): string => lab.podAddress(pod);
    const vip = (svc: string): string => lab.serviceVip('demo', svc);
    const ping = async (from: string, to: string, port = 5000): Promise<Json> => {
      const r = await lab.runNode(from, PING, ['ping', to, String(port)], { timeoutMs: 20_000 });
      try {
        return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Json;
      } catch {
        return { ok: false, error: `peer printed ${JSON.stringify(r.stdout)} ${JSON.stringify(r.stderr)}` };
      }
    };
    // Wait for the servers (the ping server prints nothing): until a first ping goes through.
    t.ok(await until(async () => (await ping('client', addr('web')))['ok'] === true, 20_000), 'baseline: client reaches web:5000');
    t.ok(await until(async () => (await ping('client', addr('near')))['ok'] === true, 20_000), 'baseline: client reaches near:5000 (same node)');

    /**
     * `meshlet policy explain` offline on the lab's config: exit 0 allowed, 1 denied. A child
     * process that runs while the traffic of the same case is sent (it reads files only).
     */
    const explain = (args: string[]): Promise<{ allowed: boolean; out: string }> =>
      new Promise((resolve, reject) => {
        execFile(process.execPath, [CLI, 'policy', 'explain', '--config', lab.paths.configDir, ...args, '-o', 'json'], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
          const status = err === null ? 0 : err.code;
          if (status !== 0 && status !== 1) reject(new Error(`explain ${args.join(' ')} exited ${String(err?.code ?? err?.signal)}: ${stderr}${stdout}`));
          else resolve({ allowed: status === 0, out: stdout });
        });
      });
    /**
     * Applies a config file and waits until each agent's last applied snapshot is the one of the
     * directory as it is now (its version, computed here as the agent computes it): counting
     * "snapshot applied" lines would take a late line of an earlier change for this one.
     */
    const apply = async (file: string, text: string): Promise<void> => {
      lab.writeConfig(file, text);
      const nodes = ['node1', 'node2'];
      const want = await Promise.all(nodes.map(async (n) => (await loadStaticSnapshot(lab.paths.configDir, n, TD)).version));
      const ok = await until(() => nodes.every((n, i) => logLines(lab, n, 'snapshot applied').at(-1)?.['version'] === want[i]), 20_000);
      if (!ok) throw new Error(`${file}: snapshot ${want.join(', ')} not applied within 20 s: ${lab.agentLog('node2').slice(-3000)}`);
    };
    /** One case: what, source pod and its explain spec, destination address and spec, port, expected. */
    type Case = readonly [what: string, from: string, fromSpec: string, to: string, toSpec: string, port: number, expected: boolean];
    /**
     * Traffic and explain on each case: both must say `expected`. The cases of one call are
     * independent (different connections, explain reads files): they run at once, and are
     * asserted in order.
     */
    const check = async (t: Test, ...cases: Case[]): Promise<void> => {
      const results = await Promise.all(
        cases.map(([, from, fromSpec, to, toSpec, port]) => Promise.all([explain(['--source', fromSpec, '--destination', toSpec, '--port', String(port)]), ping(from, to, port)])),
      );
      cases.forEach(([what, , , , , , expected], i) => {
        const [e, r] = results[i] as [{ allowed: boolean }, Json];
        t.equal(e.allowed, expected, `explain: ${what} ${expected ? 'allowed' : 'denied'}`);
        t.equal(r['ok'], expected, `traffic: ${what} ${expected ? 'allowed' : 'denied'} ${JSON.stringify(r)}`);
      });
    };

    await t.test('ALLOW by principal: the allowed pod connects, another is reset, the denial is logged and counted', async (t) => {
      await apply('authz.yaml', policy('web-allow', `selector: {matchLabels: {app: web}}\naction: ALLOW\nrules:\n- from: [{source: {principals: ["${id('client')}"]}}]`));
      await check(
        t,
        ['client -> web', 'client', 'pod/demo/client', addr('web'), 'pod/demo/web', 5000, true],
        ['other -> web', 'other', 'pod/demo/other', addr('web'), 'pod/demo/web', 5000, false],
      );
      t.ok(await until(() => connectionLines(lab, 'node2', (l) => l['outcome'] === 'denied' && l['src_identity'] === `spiffe://${id('other')}`).length > 0), 'node2 logged the denied connection');
      const line = connectionLines(lab, 'node2', (l) => l['outcome'] === 'denied' && l['src_identity'] === `spiffe://${id('other')}`)[0] ?? {};
      t.match(line['authz_reason'], /no ALLOW policy matched/, 'the access log says why');
      t.equal(line['response_flags'], 'UAEX');
      const m = await peer(lab, 'node2', ['metrics', `http://${lab.nodeAddress('node2')}:15020/metrics`, 'meshlet_']);
      const lines = (m['lines'] as string[] | undefined) ?? [];
      const policyFailures = lines.filter((l) => l.startsWith('meshlet_tcp_connections_failed_total{')).filter((l) => l.includes('reason="policy"'));
      const failedCount = policyFailures.reduce((n, l) => n + Number(l.split(' ').pop()), 0);
      t.ok(failedCount > 0, `counted with reason="policy" (${failedCount}: ${policyFailures.join(' | ')})`);
      const denials = lines.filter((l) => l.startsWith('meshlet_authorization_decisions_total{')).filter((l) => l.includes('decision="deny"'));
      t.ok(denials.length > 0, `counted per policy decision (${denials.length} deny series)`);
    });

    await t.test('DENY overrides ALLOW; notPrincipals; port rules', async (t) => {
      await apply('authz.yaml', [
        policy('web-allow', `selector: {matchLabels: {app: web}}\nrules:\n- from: [{source: {principals: ["${id('client')}", "${id('other')}"]}}]`),
        policy('web-deny', `selector: {matchLabels: {app: web}}\naction: DENY\nrules:\n- from: [{source: {notPrincipals: ["${id('client')}"]}}]\n  to: [{operation: {ports: ["5000"]}}]`),
      ].join('---\n'));
      await check(
        t,
        ['client -> web (allowed, not denied)', 'client', 'pod/demo/client', addr('web'), 'pod/demo/web', 5000, true],
        ['other -> web:5000 (DENY notPrincipals beats ALLOW)', 'other', 'pod/demo/other', addr('web'), 'pod/demo/web', 5000, false],
      );
      const line = await until(() => connectionLines(lab, 'node2', (l) => l['authz_policy'] === 'demo/web-deny').length > 0);
      t.ok(line, 'the access log names the DENY policy');
      t.equal(connectionLines(lab, 'node2', (l) => l['authz_policy'] === 'demo/web-deny')[0]?.['authz_rule'], 0, 'and its rule index');
    });

    await t.test('the empty ALLOW policy denies everything; namespace-wide and mesh-wide policies apply', async (t) => {
      await apply('authz.yaml', policy('db-nothing', `selector: {matchLabels: {app: db}}`));
      await check(
        t,
        ['client -> db (empty ALLOW)', 'client', 'pod/demo/client', addr('db'), 'pod/demo/db', 5000, false],
        ['client -> web (no policy selects it)', 'client', 'pod/demo/client', addr('web'), 'pod/demo/web', 5000, true],
      );
      await apply('authz.yaml', policy('ns-deny-other', `action: DENY\nrules:\n- from: [{source: {principals: ["*/sa/other"]}}]`));
      await check(
        t,
        ['other -> db (namespace-wide DENY)', 'other', 'pod/demo/other', addr('db'), 'pod/demo/db', 5000, false],
        ['client -> db (namespace-wide DENY does not match)', 'client', 'pod/demo/client', addr('db'), 'pod/demo/db', 5000, true],
      );
      await apply('authz.yaml', policy('mesh-deny-client', `action: DENY\nrules:\n- from: [{source: {principals: ["${id('client')}"]}}]`, 'meshlet-system'));
      await check(
        t,
        ['client -> web (mesh-wide DENY)', 'client', 'pod/demo/client', addr('web'), 'pod/demo/web', 5000, false],
        ['other -> web (mesh-wide DENY does not match)', 'other', 'pod/demo/other', addr('web'), 'pod/demo/web', 5000, true],
      );
    });

    await t.test('same-node traffic is checked exactly like cross-node traffic', async (t) => {
      await apply('authz.yaml', policy('web-allow', `selector: {matchLabels: {app: web-near}}\nrules:\n- from: [{source: {principals: ["${id('client')}"]}}]`));
      await check(
        t,
        ['client -> near (same node, allowed)', 'client', 'pod/demo/client', addr('near'), 'pod/demo/near', 5000, true],
        ['other -> near (same node, denied)', 'other', 'pod/demo/other', addr('near'), 'pod/demo/near', 5000, false],
      );
      t.ok(await until(() => connectionLines(lab, 'node1', (l) => l['mode'] === 'local' && l['outcome'] === 'denied' && typeof l['authz_reason'] === 'string').length > 0), 'node1 logged the same-node denial');
    });

    await t.test('PERMISSIVE plaintext from a pod outside the mesh: address rules match, identity rules never do', async (t) => {
      await apply('authz.yaml', policy('web-ip', `selector: {matchLabels: {app: web}}\nrules:\n- from: [{source: {ipBlocks: ["${addr('outsider')}/32"]}}]`));
      await check(
        t,
        ['outsider -> web (ipBlocks)', 'outsider', `plaintext:${addr('outsider')}`, addr('web'), 'pod/demo/web', 5000, true],
        ['client -> web (not in ipBlocks)', 'client', 'pod/demo/client', addr('web'), 'pod/demo/web', 5000, false],
      );
      await apply('authz.yaml', policy('web-ids', `selector: {matchLabels: {app: web}}\nrules:\n- from: [{source: {principals: ["*"]}}]`));
      await check(
        t,
        ['outsider -> web (principals ["*"]: no identity)', 'outsider', `plaintext:${addr('outsider')}`, addr('web'), 'pod/demo/web', 5000, false],
        ['client -> web (principals ["*"])', 'client', 'pod/demo/client', addr('web'), 'pod/demo/web', 5000, true],
      );
      await apply('authz.yaml', policy('web-ns', `selector: {matchLabels: {app: web}}\nrules:\n- from: [{source: {namespaces: ["plain"]}}]`));
      await check(t, ['outsider -> web (namespaces: plaintext has none)', 'outsider', `plaintext:${addr('outsider')}`, addr('web'), 'pod/demo/web', 5000, false]);
    });

    await t.test('a policy change closes a denied open connection within a second; allowed ones survive', async (t) => {
      // A policy that selects no pod here: every connection is allowed (and the file changes the snapshot, whatever ran before).
      await apply('authz.yaml', policy('placeholder', `selector: {matchLabels: {app: nothing-here}}`));
      const doomed = lab.spawnNode('other', PING, ['watch', addr('web'), '5000', '10']);
      // Held until both changes below applied (20 s at most), then told to stop.
      const kept = lab.spawnNode('client', PING, ['watch', addr('web'), '5000', '20', 'stdin'], { stdio: ['pipe', 'pipe', 'pipe'] });
      children.push(doomed, kept);
      const doomedOut = lineReader(doomed);
      const keptOut = lineReader(kept);
      t.match(await doomedOut.next(10_000), /first/, 'other holds a connection to web');
      t.match(await keptOut.next(10_000), /first/, 'client holds a connection to web');
      await apply('authz.yaml', policy('web-allow', `selector: {matchLabels: {app: web}}\nrules:\n- from: [{source: {principals: ["${id('client')}"]}}]`));
      const applied = logLines(lab, 'node2', 'snapshot applied').pop() ?? {};
      const gone = await doomedOut.nextJson(10_000).catch((err: Error) => ({ ok: 'no answer', error: err.message, node2: lab.agentLog('node2').slice(-3000) }) as Json);
      t.equal(gone['ok'], false, `the denied connection was closed: ${JSON.stringify(gone)}`);
      const lag = Number(gone['closedAt']) - Date.parse(String(applied['time']));
      t.comment(`closed ${lag} ms after node2 applied the snapshot`);
      t.ok(lag < 1000, `within a second of the policy applying (${lag} ms)`);
      await apply('authz-unrelated.yaml', policy('db-nothing', `selector: {matchLabels: {app: db}}`));
      // A connection the change closed would be closed within a second of it (checked above).
      await new Promise((r) => setTimeout(r, 1000));
      kept.stdin!.on('error', () => undefined); // it may have ended already (a failure, seen below)
      kept.stdin!.write('done\n');
      const survived = await keptOut.nextJson(20_000);
      t.equal(survived['ok'], true, `the allowed connection survived both changes: ${JSON.stringify(survived)}`);
      await apply('authz-unrelated.yaml', '# none\n');
    });

    await t.test('L7: method, path and header rules per request; 403 then the next request on the same connection', async (t) => {
      await apply('authz.yaml', policy('web-l7', `selector: {matchLabels: {app: web}}\nrules:\n- to: [{operation: {methods: ["GET"], paths: ["/public/*"]}}]\n- to: [{operation: {paths: ["/admin"]}}]\n  when: [{key: "request.headers[x-role]", values: ["admin"]}]`));
      const url = `http://${vip('web')}:80`;
      const [e1, r1] = await Promise.all([
        explain(['--source', 'pod/demo/client', '--destination', 'svc/demo/web:80', '--method', 'GET', '--path', '/public/a']),
        peer(lab, 'client', ['once', 'GET', `${url}/public/a`]),
      ]);
      t.equal(e1.allowed, true, 'explain: GET /public/a allowed');
      t.equal(r1['status'], 200, `GET /public/a: ${JSON.stringify(r1).slice(0, 300)}`);
      const [e2, r2] = await Promise.all([
        explain(['--source', 'pod/demo/client', '--destination', 'svc/demo/web:80', '--method', 'POST', '--path', '/public/a']),
        peer(lab, 'client', ['once', 'POST', `${url}/public/a`]),
      ]);
      t.equal(e2.allowed, false, 'explain: POST /public/a denied');
      t.equal(r2['status'], 403, 'POST /public/a: 403');
      const r3 = await peer(lab, 'client', ['once', 'GET', `${url}/admin`, 'x-role:admin']);
      const r4 = await peer(lab, 'client', ['once', 'GET', `${url}/admin`, 'x-role:guest']);
      t.equal(r3['status'], 200, 'GET /admin with x-role: admin');
      t.equal(r4['status'], 403, 'GET /admin with x-role: guest');
      const pipelined = `GET /private HTTP/1.1\r\nHost: web\r\n\r\nGET /public/b HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n`;
      const raw = await peer(lab, 'client', ['raw', vip('web'), '80', Buffer.from(pipelined).toString('base64')]);
      const statuses = [...String(raw['data']).matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      t.same(statuses, [403, 200], `one keep-alive connection: 403 then 200 (${JSON.stringify(raw).slice(0, 400)})`);
      t.ok(await until(() => requestLines(lab, 'node2', '/private').some((l) => l['status'] === 403 && typeof l['authz_reason'] === 'string')), 'node2 logged the denied request with the reason');
    });

    await t.test('L7 rules for plaintext on a port declared HTTP: the destination agent terminates HTTP and checks each request', async (t) => {
      await apply('authz.yaml', policy('web-plain-l7', `selector: {matchLabels: {app: web}}\nrules:\n- from: [{source: {ipBlocks: ["${addr('outsider')}/32"]}}]\n  to: [{operation: {methods: ["GET"], paths: ["/public/*"]}}]`));
      const outsider = `plaintext:${addr('outsider')}`;
      const pipelined = `GET /private HTTP/1.1\r\nHost: web\r\n\r\nGET /public/b HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n`;
      const [connection, getPublic, getPrivate, raw] = await Promise.all([
        explain(['--source', outsider, '--destination', 'pod/demo/web', '--port', '8080']),
        explain(['--source', outsider, '--destination', 'pod/demo/web', '--port', '8080', '--method', 'GET', '--path', '/public/b']),
        explain(['--source', outsider, '--destination', 'pod/demo/web', '--port', '8080', '--method', 'GET', '--path', '/private']),
        peer(lab, 'outsider', ['raw', addr('web'), '8080', Buffer.from(pipelined).toString('base64')]),
      ]);
      t.equal(connection.allowed, true, 'explain: the connection is let in (its requests are checked)');
      t.equal(getPublic.allowed, true, 'explain: GET /public/b allowed');
      t.equal(getPrivate.allowed, false, 'explain: GET /private denied');
      const statuses = [...String(raw['data']).matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      t.same(statuses, [403, 200], `one plaintext keep-alive connection: 403 then 200 (${JSON.stringify(raw).slice(0, 400)})`);
      t.ok(await until(() => requestLines(lab, 'node2', '/private').some((l) => l['security_policy'] === 'plaintext')), 'node2 logged the plaintext request');
      const line = requestLines(lab, 'node2', '/private').find((l) => l['security_policy'] === 'plaintext') ?? {};
      t.equal(line['status'], 403, 'as denied');
      t.match(line['authz_reason'], /no ALLOW policy matched/, 'with the reason');
      t.equal((await ping('outsider', addr('web')))['ok'], false, 'port 5000 is not HTTP: the same policy fails closed there');
    });

    await t.test('L7 rules on a port that is not HTTP fail closed', async (t) => {
      await apply('authz.yaml', policy('web-l7-opaque', `selector: {matchLabels: {app: web}}\nrules:\n- from: [{source: {principals: ["${id('client')}"]}}]\n  to: [{operation: {ports: ["5000"], methods: ["GET"]}}]`));
      await check(t, ['client -> web:5000 (ALLOW with methods on an opaque port)', 'client', 'pod/demo/client', addr('web'), 'pod/demo/web', 5000, false]);
    });

    await t.test('connection.sni: the destination agent reads the ClientHello of a tunnelled connection', async (t) => {
      await apply('authz.yaml', policy('web-sni', `selector: {matchLabels: {app: web}}\nrules:\n- to: [{operation: {ports: ["5000"]}}]\n  when: [{key: connection.sni, values: ["api.example.com"]}]`));
      const hello = async (name: string): Promise<Json> => {
        const r = await lab.runNode('client', PING, ['hello', addr('web'), '5000', name], { timeoutMs: 20_000 });
        return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Json;
      };
      const [api, evil, allowed] = await Promise.all([
        explain(['--source', 'pod/demo/client', '--destination', 'pod/demo/web', '--port', '5000', '--sni', 'api.example.com']),
        explain(['--source', 'pod/demo/client', '--destination', 'pod/demo/web', '--port', '5000', '--sni', 'evil.example.com']),
        hello('api.example.com'),
      ]);
      t.equal(api.allowed, true, 'explain: api.example.com allowed');
      t.equal(evil.allowed, false, 'explain: evil.example.com denied');
      t.equal(allowed['ok'], true, `api.example.com: held open (${JSON.stringify(allowed)})`);
      const denied = await hello('evil.example.com');
      t.equal(denied['ok'], false, `evil.example.com: reset (${JSON.stringify(denied)})`);
      t.ok(await until(() => connectionLines(lab, 'node2', (l) => l['outcome'] === 'denied' && l['authz_policy'] === undefined && l['mode'] === 'tunnel').length > 0), 'node2 logged the denial');
    });

    await t.test('bad input: an error naming file, object and field; the previous policies stay in force', async (t) => {
      await apply('authz.yaml', policy('web-allow', `selector: {matchLabels: {app: web}}\nrules:\n- from: [{source: {principals: ["${id('client')}"]}}]`));
      const before = logLines(lab, 'node2', 'config directory rejected; the previous snapshot stays in effect').length;
      lab.writeConfig('authz-bad.yaml', policy('bad', `rules:\n- from: [{source: {principals: ["spiffe://${id('client')}"], ipBlocks: ["10.0.0.0/99"]}}]\n  to: [{operation: {methodz: ["GET"]}}]`));
      t.ok(await until(() => logLines(lab, 'node2', 'config directory rejected; the previous snapshot stays in effect').length > before), 'the agent rejected the directory');
      const text = JSON.stringify(logLines(lab, 'node2', 'config directory rejected; the previous snapshot stays in effect').pop());
      t.match(text, /authz-bad\.yaml/, 'names the file');
      t.match(text, /principals/, 'names the principal field');
      t.match(text, /ipBlocks/, 'names the CIDR field');
      t.match(text, /methodz/, 'names the unknown field');
      t.equal((await ping('other', addr('web')))['ok'], false, 'other is still denied');
      const still = await ping('client', addr('web'));
      t.equal(still['ok'], true, `client is still allowed ${JSON.stringify(still)}`);
      if (still['ok'] !== true) t.comment(lab.agentLog('node2').slice(-6000));
      lab.writeConfig('authz-bad.yaml', '# fixed\n');
    });

    for (const c of children) c.kill();
  });
});
