/**
 * The admin API's authorization endpoints against a running agent (in-process, 127.0.0.1:0):
 * `/policies` and `/policy/explain` on a snapshot with AuthorizationPolicies, their token, and
 * bad or hostile queries answered 400 with the parameter named.
 */
import t from 'tap';
import { adminRig, type AdminRig } from './admin-rig.js';
import { meshSnapshot } from '../../unit/cli/policy-fixture.js';

async function get(rig: AdminRig, path: string, auth = true): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${rig.admin}${path}`, { headers: auth ? rig.auth : {} });
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.startsWith('application/json') === true ? JSON.parse(text) : text };
}

async function policyRig(t: Parameters<typeof adminRig>[0]): Promise<AdminRig> {
  const rig = await adminRig(t);
  await rig.agent.applySnapshot(meshSnapshot('node1'));
  return rig;
}

t.test('/policies: each local workload\'s policies in evaluation order, and those with none', async (t) => {
  const rig = await policyRig(t);
  const res = await get(rig, '/policies');
  t.equal(res.status, 200);
  t.same(res.body, {
    version: 'v2',
    policies: [
      { workload: 'Pod/demo/web-1', policy: 'demo/deny-admin', apiVersion: 'security.istio.io/v1', action: 'DENY', selectedBy: 'selector', rules: 1, l7: true, ports: 'all' },
      { workload: 'Pod/demo/web-1', policy: 'demo/allow-client', apiVersion: 'security.istio.io/v1', action: 'ALLOW', selectedBy: 'selector', rules: 2, l7: true, ports: 'all' },
    ],
    withoutPolicy: ['Pod/demo/client'],
    status: [],
  });
  const text = await get(rig, '/policies?format=text');
  t.match(text.body, /^version: v2\npolicies: \n\s+WORKLOAD\s+POLICY\s+APIVERSION\s+ACTION\s+SELECTEDBY\s+RULES\s+L7\s+PORTS\n/);
});

t.test('/policy/explain: the query on the snapshot in force, each Service endpoint explained', async (t) => {
  const rig = await policyRig(t);
  const res = await get(rig, '/policy/explain?source=pod/demo/client&destination=svc/demo/web:80&path=/api/orders&header=X-User:bob');
  t.equal(res.status, 200);
  const body = res.body as { version: string; allowed: boolean; targets: Array<{ workload: string; mode: string; notes: string[]; attributes: { request: { headers: Record<string, string> } }; explanation: { verdict: { decidedBy: unknown } } }> };
  t.equal(body.version, 'v2');
  t.equal(body.allowed, true);
  t.same(body.targets.map((x) => x.workload), ['Pod/demo/web-1', 'Pod/demo/web-2']);
  t.equal(body.targets[0]?.mode, 'request');
  t.same(body.targets[0]?.attributes.request.headers, { 'x-user': 'bob' });
  t.same(body.targets[0]?.explanation.verdict.decidedBy, { policy: 'demo/allow-client', rule: 1, action: 'ALLOW' });
  t.match(body.targets[1]?.notes.join('\n'), /runs on node node-b: its agent enforces this/, 'a destination another agent enforces is noted');
  const denied = await get(rig, '/policy/explain?source=pod/demo/client&destination=svc/demo/web:80&path=/admin/');
  t.equal((denied.body as { allowed: boolean }).allowed, false);
});

t.test('/policy/explain: bad queries are 400 naming the parameter; unknown names are 400 too', async (t) => {
  const rig = await policyRig(t);
  const cases: Array<[string, RegExp]> = [
    ['', /source and destination are required/],
    ['?source=pod/demo/client&destination=svc/demo/web:80&methd=GET', /unknown parameter "methd"/],
    ['?source=pod/demo/client&source=x/y&destination=svc/demo/web:80', /parameter source: given more than once/],
    ['?source=pod/demo/client&destination=svc/demo/web&port=http', /port "http": want a port number/],
    ['?source=pod/demo/nope&destination=svc/demo/web:80', /no meshed workload demo\/nope \(a node's snapshot lists meshed workloads only/],
    ['?source=pod/demo/client&destination=svc/demo/web', /Service demo\/web has ports 80 \(http\), 9000 \(tcp-admin\): name one/],
    ['?source=pod/demo/client&destination=svc/demo/web:80&path=%00', /control characters/],
    [`?source=pod/demo/client&destination=svc/demo/web:80${'&header=h:v'.repeat(65)}`, /headers: 65 given, at most 64/],
  ];
  for (const [query, message] of cases) {
    const res = await get(rig, `/policy/explain${query}`);
    t.equal(res.status, 400, query);
    t.match((res.body as { error: string }).error, message, query);
  }
});

t.test('both need the admin token', async (t) => {
  const rig = await policyRig(t);
  for (const path of ['/policies', '/policy/explain?source=pod/demo/client&destination=svc/demo/web:80']) {
    t.equal((await get(rig, path, false)).status, 401, path);
  }
});
