/**
 * The web page on a lab node's admin port (`/ui`), in a real browser: headless Chromium runs
 * in node2's network namespace (where an SRE's SSH tunnel or port-forward lands: the node's
 * loopback), loads the page, is given the admin token through the form as a person would,
 * and the test reads what is on the screen: the lab's workloads with their certificates, the
 * controller connection, a connection opened during the test (live table and tap feed), a
 * denial (plaintext from a pod outside the mesh to a STRICT workload), and HTTP requests in the
 * golden signals. A screenshot is saved under `.tap/screenshots/` for people to look at.
 */
import t from 'tap';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { REPO_ROOT, withLab, type Lab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';
import { chromiumArgs, DevToolsPipe, requireChromium } from '../helpers/chromium.js';
import { peer as httpPeer, startServer as startHttpServer } from '../datapath/l7-lab.js';
import { waitFor } from '../../helpers/wait-for.js';

t.setTimeout(300_000);

const PEER = join(REPO_ROOT, 'dist/test/e2e/datapath/peer.js');
const SHOTS = join(REPO_ROOT, '.tap', 'screenshots');
const WIDTH = 1400;
const HEIGHT = 1600;
/** The page refreshes every 5 s and redraws the tap's panels every second: 60 s is generous on a busy machine. */
const SCREEN_WAIT_MS = 60_000;
const CLIENT_ID = 'spiffe://cluster.local/ns/demo/sa/client';

const topology: LabTopology = {
  name: `ui${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [
    { name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } },
    { name: 'plain', labels: {} },
  ],
  pods: [
    { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
    { name: 'outsider', namespace: 'plain', node: 'node1', labels: { app: 'outsider' } },
    { name: 'server', namespace: 'demo', node: 'node2', serviceAccount: 'server', labels: { app: 'server' } },
    { name: 'vault', namespace: 'demo', node: 'node2', serviceAccount: 'vault', labels: { app: 'vault' } },
    { name: 'web', namespace: 'demo', node: 'node2', serviceAccount: 'web', labels: { app: 'web' } },
  ],
  services: [
    { name: 'server', namespace: 'demo', selector: { app: 'server' }, ports: [{ port: 80, targetPort: 8080 }] },
    { name: 'vault', namespace: 'demo', selector: { app: 'vault' }, ports: [{ port: 80, targetPort: 8080 }] },
    // Named http: the agents serve it at L7 and report each request.
    { name: 'web', namespace: 'demo', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  ],
  meshTLS: [{ name: 'vault-strict', namespace: 'demo', mode: 'STRICT', selector: { app: 'vault' } }],
};

async function startServer(lab: Lab, pod: string): Promise<ChildProcess> {
  const child = lab.spawnNode(pod, PEER, ['server', '8080']);
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  if (!line.toString().includes('listening')) throw new Error(`${pod} server: ${line.toString()}`);
  return child;
}

/** The visible text of a panel. */
const panel = (page: DevToolsPipe, id: string): Promise<string> => page.evaluate<string>(`document.getElementById(${JSON.stringify(id)}).innerText`);

/** Waits until a panel's text passes `test`; returns that text. */
function screenShows(page: DevToolsPipe, id: string, what: string, test: (text: string) => boolean): Promise<string> {
  return waitFor(`the ${id} panel to show ${what}`, async () => {
    const text = await panel(page, id);
    return test(text) ? text : undefined;
  }, { timeoutMs: SCREEN_WAIT_MS, intervalMs: 250 });
}

t.test('the web page in Chromium shows the lab node: workloads, a live connection, a denial', async (t) => {
  if (!requireNamespaces(t)) return;
  const chromium = requireChromium(t);
  if (chromium === undefined) return;
  await withLab(topology, { controller: true }, async (lab) => {
    const children = await Promise.all([startServer(lab, 'server'), startServer(lab, 'vault'), startHttpServer(lab, 'web')]);
    const profile = mkdtempSync(join(tmpdir(), 'meshlet-chromium-'));
    t.teardown(() => rmSync(profile, { recursive: true, force: true }));
    const browser = lab.spawn('node2', chromium, chromiumArgs(profile, WIDTH, HEIGHT), { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    let browserLog = '';
    // Without a session bus (a lab namespace has none) Chromium logs D-Bus errors: kept out of the log but its tail.
    browser.stderr?.setEncoding('utf8').on('data', (d: string) => (browserLog = (browserLog + d).slice(-4000)));
    const page = DevToolsPipe.of(browser);
    try {
      await page.openPage(WIDTH, HEIGHT);
      await page.goto('http://127.0.0.1:15000/ui');

      // Before the token: the form, and nothing fetched but the page's own files.
      t.equal(await page.evaluate<boolean>("document.getElementById('login').hidden"), false, 'the token form shows');
      t.equal(await page.evaluate<boolean>("document.getElementById('panels').hidden"), true, 'the panels do not');
      const loaded = await page.evaluate<string[]>("performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname)");
      t.ok(loaded.length > 0, `the page loaded its files (${loaded.join(', ')})`);
      t.same(loaded.filter((p) => !p.startsWith('/ui/')), [], 'and asked for no data without the token (nor a favicon)');

      const submit = (token: string): Promise<unknown> =>
        page.evaluate(`(() => { document.getElementById('token').value = ${JSON.stringify(token)}; document.getElementById('login-form').requestSubmit(); })()`);
      // A wrong token: the agent refuses it, and the form comes back saying so.
      await submit('0'.repeat(64));
      const refused = await waitFor('the form to come back after a wrong token', async () => {
        const shown = await page.evaluate<string>("document.getElementById('login').hidden ? '' : document.getElementById('login-error').innerText");
        return shown === '' ? undefined : shown;
      }, { timeoutMs: SCREEN_WAIT_MS, intervalMs: 100 });
      t.match(refused, /does not match/, 'a wrong token is refused, on the screen');
      t.equal(await page.evaluate<boolean>("document.getElementById('panels').hidden"), true, 'and the panels stay hidden');
      t.equal(await page.evaluate<string | null>("sessionStorage.getItem('meshlet-admin-token')"), null, 'it is not kept');

      // The browser reports the refused load on its own channel, maybe after the form is back.
      await waitFor('the browser to report the refusal', () => (page.networkErrors.length > 0 ? true : undefined), { timeoutMs: SCREEN_WAIT_MS, intervalMs: 100 });
      const refusals = page.networkErrors.length;
      t.equal(refusals, 1, 'one request tried the wrong token: nothing else was asked with it');

      await submit(readFileSync(lab.adminTokenFile('node2'), 'utf8').trim());

      const wl = await screenShows(page, 'workloads', 'the lab\'s workloads', (s) => ['Pod/demo/client', 'Pod/demo/server', 'Pod/demo/vault'].every((w) => s.includes(w)));
      t.match(wl, /3 on this node, 1 elsewhere/, 'node2 holds three of the four meshed pods');
      t.notMatch(wl, /outsider/, 'a pod outside the mesh is no workload');
      t.match(wl, /Pod\/demo\/server\tthis node\t.*spiffe:\/\/cluster\.local\/ns\/demo\/sa\/server/, 'a local workload with its identity');
      const certCells = await page.evaluate<string[]>("[...document.querySelectorAll('#workloads td.ok, #workloads td.warn, #workloads td.bad')].map((c) => c.className + ' ' + c.innerText)");
      t.equal(certCells.length, 3, `a certificate's time left for each local workload (${certCells.join('; ')})`);
      t.match(certCells[0], /^ok \d/, 'fresh: shown in the ok colour');
      t.match(await screenShows(page, 'health', 'readiness', (s) => s.includes('snapshot version')), /(^|\n)ready snapshot version \d+/, 'the node is ready');
      t.match(await screenShows(page, 'controller', 'the controller connection', (s) => s.includes('connected')), /connection\tconnected/, 'connected to the controller');
      const drift = await screenShows(page, 'drift', 'the capture rules', (s) => /in sync|drift/.test(s));
      t.match(drift, /in sync checked/, 'capture rules in sync');
      t.notMatch(drift, /null|undefined/, 'and nothing else');
      await waitFor('the tap to stream', async () => (await page.evaluate<string>("document.getElementById('tap-status').innerText")).includes('streaming'), { timeoutMs: SCREEN_WAIT_MS, intervalMs: 250 });

      // A connection opened now, held open: in the live table and in the feed.
      const hold = lab.spawnNode('client', PEER, ['hold', lab.serviceVip('demo', 'server'), '80', '1', '120'], { stdio: ['pipe', 'pipe', 'pipe'] });
      children.push(hold);
      const [held] = (await once(hold.stdout!, 'data')) as [Buffer];
      t.match(held.toString(), /^held 1 0/, 'the client holds a connection to the server');
      // The server's agent knows the client by its certificate's identity (the tunnel's peer); the
      // page names its address from the snapshot's workloads.
      const conns = await screenShows(page, 'connections', 'the held connection', (s) => s.includes(CLIENT_ID) && s.includes('Pod/demo/server'));
      t.match(conns, /inbound\tPod\/demo\/client\tspiffe:\/\/cluster\.local\/ns\/demo\/sa\/client\tPod\/demo\/server\t/, 'inbound from the client to the server');
      t.match(conns, /\ttunnel\tmutual_tls\t/, 'tunnelled, over mTLS');
      const feed = await screenShows(page, 'feed', 'the connection opening', (s) => s.includes('connection.open\tinbound\tPod/demo/client\tPod/demo/server'));
      t.match(feed, /connection\.open\tinbound\tPod\/demo\/client\tPod\/demo\/server\t\tmutual_tls\topen/, 'the tap feed shows it open');

      // A denial: plaintext from outside the mesh to a STRICT workload.
      const denied = await lab.runNode('outsider', PEER, ['ping', lab.podAddress('vault'), '8080'], { timeoutMs: 30_000 });
      t.match(denied.stdout, /"ok":false/, 'plaintext to the STRICT workload is refused');
      const denials = await screenShows(page, 'denials', 'the denial', (s) => s.includes('Pod/demo/vault'));
      t.match(denials, /none \(plaintext\)\tPod\/demo\/vault\t.*MeshTLS STRICT/, 'the denial: no identity, to vault, and why');
      t.match(await panel(page, 'feed'), /connection\.close\tinbound\t[^\n]*\tPod\/demo\/vault\t[^\n]*\tdenied\t/, 'the feed shows it closed, denied');
      const signals = await screenShows(page, 'signals', 'the denied connection', (s) => s.includes('Pod/demo/vault'));
      t.match(signals, /Pod\/demo\/vault\tinbound\tconnections\t[^\n]*\t1, 1 failed\t/, 'golden signals: vault\'s one connection failed');
      t.equal(await page.evaluate<number>("document.querySelectorAll('#signals svg.spark polyline').length") > 0, true, 'with charts');

      // Requests through both agents: node2's reports each one it served, with its latency.
      const reqs = await httpPeer(lab, 'client', ['requests', `http://${lab.serviceVip('demo', 'web')}/signals`, '20', '2']);
      t.same(reqs['statuses'], { 200: 20 }, `twenty requests answered (${JSON.stringify(reqs).slice(0, 300)})`);
      const web = await screenShows(page, 'signals', 'the requests', (s) => /Pod\/demo\/web\tinbound\trequests\t[^\n]*\t20, 0 failed\t/.test(s));
      t.match(web, /Pod\/demo\/web\tinbound\trequests\t[\d.]+ \/s\t0\.0 %\t20, 0 failed\t[\d.]+ ms\t[\d.]+ ms\t/, 'golden signals of web: rate, no errors, p50 and p99');
      t.match(await panel(page, 'feed'), /\trequest\tdestination\tspiffe:\/\/cluster\.local\/ns\/demo\/sa\/client\tPod\/demo\/web\tdemo\/web\tmutual_tls\tok\t\tGET \S+\/signals -> 200/, 'each request in the feed, its client by identity');

      mkdirSync(SHOTS, { recursive: true });
      const shot = join(SHOTS, 'web-ui-node2.png'); // one file, replaced at each run
      writeFileSync(shot, await page.screenshot());
      t.comment(`screenshot: ${shot}`);
      t.same(page.pageErrors, [], 'the page raised no error');
      t.same(page.networkErrors.slice(refusals), [], 'and with the token every fetch succeeded');
      hold.stdin?.end();
    } catch (err) {
      t.comment(`on the screen: ${await page.evaluate<string>('document.body.innerText').catch((e: Error) => e.message)}`);
      t.comment(`browser stderr (last 4 KB): ${browserLog}`);
      t.comment(`page errors: ${[...page.pageErrors, ...page.networkErrors].join('\n')}`);
      throw err;
    } finally {
      await page.close();
      for (const c of children) c.kill();
    }
  });
});
