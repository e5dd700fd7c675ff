/**
 * The web page on the admin port (`/ui`), against an agent in-process: its files come with the
 * security headers and hold none of the agent's data; the data endpoints it reads keep
 * needing the token, exist in the admin index, and answer with it; a page of another site
 * cannot drain the agent (no ambient credential: the token is a header the page adds).
 */
import t from 'tap';
import { UI_SECURITY_HEADERS } from '../../../src/agent/admin/ui/ui-handler.js';
import { UI_ASSETS } from '../../../src/agent/admin/ui/ui-assets.js';
import { UI_DATA_PATHS } from '../../../src/agent/admin/ui/ui-data-paths.js';
import { adminRig, CLIENT_ID, SERVER_ID } from './admin-rig.js';

t.test('every file of the page: 200, its type, the security headers, no data', async (t) => {
  const rig = await adminRig(t);
  t.ok(UI_ASSETS.size >= 8, `${UI_ASSETS.size} files`);
  for (const [path, asset] of UI_ASSETS) {
    const res = await fetch(`${rig.admin}${path}`);
    t.equal(res.status, 200, `GET ${path} needs no token`);
    t.equal(res.headers.get('content-type'), asset.type, `${path}: its type`);
    const csp = res.headers.get('content-security-policy') ?? '';
    t.match(csp, /(^|; )default-src 'self'(;|$)/, `${path}: default-src 'self'`);
    t.match(csp, /frame-ancestors 'none'/, `${path}: no framing`);
    t.notMatch(csp, /unsafe-inline|unsafe-eval/, `${path}: no inline code, no eval`);
    t.equal(res.headers.get('x-content-type-options'), 'nosniff', `${path}: nosniff`);
    t.equal(res.headers.get('x-frame-options'), 'DENY', `${path}: no frames`);
    t.equal(res.headers.get('set-cookie'), null, `${path}: no cookie`);
    const body = await res.text();
    t.equal(body, asset.body.toString('utf8'), `${path}: the file as built`);
    for (const secret of [rig.token, SERVER_ID, CLIENT_ID, 'Pod/demo/server', '127.0.0.1']) t.notOk(body.includes(secret), `${path} does not hold ${secret.slice(0, 24)}`);
  }
  const head = await fetch(`${rig.admin}/ui`, { method: 'HEAD' });
  t.equal(head.status, 200, 'HEAD /ui');
  t.equal(head.headers.get('x-frame-options'), 'DENY');
});

t.test('other methods and unknown files: refused, with the same headers', async (t) => {
  const rig = await adminRig(t);
  const post = await fetch(`${rig.admin}/ui`, { method: 'POST', body: 'x' });
  t.equal(post.status, 405);
  t.equal(post.headers.get('allow'), 'GET, HEAD');
  const missing = await fetch(`${rig.admin}/ui/nope.js`);
  t.equal(missing.status, 404);
  t.match(await missing.text(), /no such file: \/ui\/nope\.js/);
  for (const [name, value] of Object.entries(UI_SECURITY_HEADERS)) t.equal(missing.headers.get(name), value, `404: ${name}`);
  t.equal((await fetch(`${rig.admin}/uix`, { headers: {} })).status, 401, '/uix is not the page: an unknown path behind the token');
});

t.test('the data the page reads: every endpoint is an admin route, needs the token, answers with it', async (t) => {
  const rig = await adminRig(t);
  const index = (await (await fetch(`${rig.admin}/`)).json()) as Array<{ path: string; method: string; token: boolean }>;
  const paths = Object.values(UI_DATA_PATHS);
  t.ok(paths.length >= 7, `${paths.length} endpoints`);
  for (const path of paths) {
    const route = index.find((r) => r.path === path);
    t.equal(route?.method, 'GET', `${path} is a GET route of the admin index`);
    if (path === '/ready') {
      t.equal(route?.token, false, '/ready is public (says nothing about the mesh)');
      continue;
    }
    t.equal(route?.token, true, `${path} is behind the token`);
    const without = await fetch(`${rig.admin}${path}`);
    t.equal(without.status, 401, `${path} without the token: 401`);
    t.notMatch(await without.text(), /Pod\/demo|spiffe:/, `${path} without the token shows nothing of the mesh`);
  }
  for (const path of paths.filter((p) => p !== '/tap')) {
    const res = await fetch(`${rig.admin}${path}`, { headers: rig.auth });
    t.equal(res.status, 200, `${path} with the token: 200`);
    t.equal(res.headers.get('content-type'), 'application/json', `${path}: JSON`);
  }
  const tap = await fetch(`${rig.admin}${UI_DATA_PATHS.tap}?duration=0.2`, { headers: rig.auth });
  t.equal(tap.status, 200, 'the tap with the token');
  t.match(await tap.text(), /^\{"type":"tap\.start"/, 'streams NDJSON');
});

t.test('another site cannot drive the agent through a browser: no cookie, the token is a header', async (t) => {
  const rig = await adminRig(t);
  // What a cross-site form or fetch sends: an Origin, a simple content type, no Authorization.
  const cross = { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' };
  t.equal((await fetch(`${rig.admin}/quitquitquit`, { method: 'POST', headers: cross, body: 'a=b' })).status, 401);
  t.equal((await fetch(`${rig.admin}/logging?level=debug`, { method: 'POST', headers: cross, body: 'level=debug' })).status, 401);
  await new Promise((r) => setImmediate(r));
  t.equal(rig.quits, 0, 'no drain');
  t.equal(rig.agent.logLevels.levels().root, 'silent', 'no level changed');
  const page = await fetch(`${rig.admin}/ui`);
  t.equal(page.headers.get('access-control-allow-origin'), null, 'no CORS grant on the page');
  const data = await fetch(`${rig.admin}/workloads`, { headers: { ...rig.auth, origin: 'https://evil.example' } });
  t.equal(data.headers.get('access-control-allow-origin'), null, 'nor on the data: another origin cannot read it');
});
