/**
 * The SRE commands (status, proxy-config, log-level) against a real agent in-process on
 * 127.0.0.1 (port 0), run through commander with a captured io: output and exit codes.
 */
import { Command, CommanderError } from 'commander';
import { writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import t from 'tap';
import { defaultMaxConnections } from '../../../src/agent/policy/workload-limit.js';
import { openFilesLimit } from '../../../src/ops/open-files-limit.js';
import { parse } from 'yaml';
import type { AdminIo } from '../../../src/cli/admin-client.js';
import { registerLogLevelCommand } from '../../../src/cli/log-level-command.js';
import { registerProxyConfigCommand } from '../../../src/cli/proxy-config-command.js';
import { assess, registerStatusCommand } from '../../../src/cli/status-command.js';
import { adminRig, SERVER_ID, status } from '../agent/admin-rig.js';

interface Run {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | undefined;
}

/** `meshlet ARGS...` with the three SRE commands registered. */
async function meshlet(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  let code: number | undefined;
  const io: AdminIo = { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), exit: (c) => (code = c) };
  const program = new Command('meshlet').exitOverride();
  registerStatusCommand(program, io);
  registerProxyConfigCommand(program, io);
  registerLogLevelCommand(program, io);
  try {
    await program.parseAsync(['node', 'meshlet', ...args]);
  } catch (err) {
    // commander's own usage errors: the command recorded the exit code, then threw to stop.
    if (!(err instanceof CommanderError)) throw err;
  }
  return { stdout, stderr, code };
}

/** A loopback port with nothing listening: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const hostPort = (url: string): string => url.replace('http://', '');

/** The widest line of `text`: the commands promise 100 columns. */
const widest = (text: string): number => Math.max(...text.split('\n').map((l) => l.length));

t.test('status: a healthy node exits 0; drift, not ready and no snapshot exit 2 with the reasons', async (t) => {
  const rig = await adminRig(t);
  rig.capture.drift = { inSync: true, detail: {} };
  const ok = await meshlet('status', '--admin', hostPort(rig.admin), '--admin-token-file', rig.tokenFile);
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  t.match(ok.stdout, /^snapshot\s+v1, applied \d+s ago/m);
  t.match(ok.stdout, /^workloads\s+1 on this node, 1 in the mesh; 0 services$/m);
  t.match(ok.stdout, /^connections\s+0 open$/m);
  t.match(ok.stdout, new RegExp(`^certificates\\s+1; soonest expiry in \\S+ \\(\\d+ s\\): ${SERVER_ID}`, 'm'));
  t.match(ok.stdout, /^iptables\s+in sync$/m);
  t.match(ok.stdout, /^controller\s+unknown/m);
  t.match(ok.stdout, /^ready\s+yes$/m);
  t.match(ok.stdout, /\nhealthy\n$/);
  t.ok(widest(ok.stdout) <= 100, 'fits 100 columns');

  rig.capture.drift = { inSync: false, detail: { ipv4: { inSync: false, missing: ['-A MESHLET_OUTPUT x', '-A y'], unexpected: ['-A z'] } } };
  const drifted = await meshlet('status', '--admin', rig.admin, '--admin-token-file', rig.tokenFile);
  t.equal(drifted.code, 2);
  t.match(drifted.stdout, /^iptables\s+DRIFTED: ipv4 2 missing, 1 unexpected$/m);
  t.match(drifted.stdout, /UNHEALTHY:\n {2}- capture rules drifted/);
});

t.test('status assessment: no snapshot and not ready are problems, with what blocks', async (t) => {
  const res = assess({ dump: { version: '', appliedAt: null, ageSeconds: null, certificates: [] }, ready: { ready: false, pending: ['certificates', 'snapshot'] }, iptables: { managed: false }, connections: 0 });
  t.same(res.problems, ['no snapshot applied yet (static: check --config; controller: check the link below)', 'not ready: waiting for certificates, snapshot']);
  t.same(res.fields.find(([k]) => k === 'iptables'), ['iptables', 'not managed by the agent (--no-iptables)']);
  t.same(res.fields.find(([k]) => k === 'ready'), ['ready', 'NO: waiting for certificates, snapshot']);
});

t.test('status assessment: certificates expired or under 10% of their lifetime are problems', async (t) => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  const base = { ready: { ready: true, pending: [] }, iptables: { managed: false }, connections: 0, now };
  const withCert = (notBefore: string, notAfter: string): Record<string, unknown> =>
    ({ version: 'v1', appliedAt: '2026-01-01T11:00:00Z', ageSeconds: 3600, certificates: [{ identity: SERVER_ID, notBefore, notAfter }] });
  t.same(assess({ ...base, dump: withCert('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z') }).problems, [], '12 h of 24 left');
  t.same(assess({ ...base, dump: withCert('2026-01-01T00:00:00Z', '2026-01-01T14:00:00Z') }).problems, [], '2 h of 14 left: 14%');
  const soon = assess({ ...base, dump: withCert('2025-12-31T14:00:00Z', '2026-01-01T14:00:00Z') });
  t.match(soon.problems, [/^certificate of spiffe:\S+ expires in 2h0m, under 10% of its lifetime/], '2 h of 24 left');
  const expired = assess({ ...base, dump: withCert('2025-12-31T00:00:00Z', '2026-01-01T11:00:00Z') });
  t.match(expired.problems, [/^certificate of spiffe:\S+ expired 1h0m ago$/]);
  t.match(expired.fields.find(([k]) => k === 'certificates'), ['certificates', /soonest expiry in -1h0m \(-3600 s\)/]);
});

t.test('proxy-config: tables, json, yaml', async (t) => {
  const rig = await adminRig(t);
  const workloads = await meshlet('proxy-config', 'workloads', '--admin', rig.admin, '--admin-token-file', rig.tokenFile);
  t.equal(workloads.code, 0, workloads.stderr);
  // The agent runs in this process: its default cap is sized from this process's open-files limit.
  const cap = String(defaultMaxConnections(openFilesLimit()));
  t.equal(workloads.stdout, `UID              ADDRESSES  NODE   IDENTITY${' '.repeat(SERVER_ID.length - 8)}  TLS     LOCAL  MAX CONN${' '.repeat(Math.max(0, cap.length - 8))}  MAX BW  MAX SHARE\nPod/demo/server  127.0.0.1  node1  ${SERVER_ID}  STRICT  yes    ${cap}\n`);
  const certs = await meshlet('proxy-config', 'certs', '--admin', rig.admin, '--admin-token-file', rig.tokenFile, '-o', 'json');
  t.equal(certs.code, 0);
  t.same((JSON.parse(certs.stdout) as Array<{ identity: string }>).map((c) => c.identity), [SERVER_ID]);
  const services = await meshlet('proxy-config', 'services', '--admin', rig.admin, '--admin-token-file', rig.tokenFile, '-o', 'yaml');
  t.same(parse(services.stdout), []);
  const config = await meshlet('proxy-config', 'config', '--admin', rig.admin, '--admin-token-file', rig.tokenFile);
  t.match(config.stdout, /^version\s+v1$/m);
  t.match(config.stdout, /^listener tunnel\s+127\.0\.0\.1:\d+$/m);
  t.ok(widest(config.stdout) <= 100, 'fits 100 columns');
  const stream = await rig.connect('127.0.0.1', rig.backendPort);
  t.teardown(() => void stream.destroy());
  t.equal(await status(stream), 200);
  const conns = await meshlet('proxy-config', 'connections', '--admin', rig.admin, '--admin-token-file', rig.tokenFile);
  t.match(conns.stdout, /^ID\s+DIR\s+MODE\s+SOURCE\s+DESTINATION\s+WORKLOADS\s+POLICY\s+SENT\s+RECV\s+AGE\n/);
  // The table fits 100 columns: with five-digit ports the WORKLOADS column is cut short (`serv…`).
  t.match(conns.stdout, /\n\S+\s+inbound\s+\S+\s+127\.0\.0\.1:\d+\s+127\.0\.0\.1:\d+\s+- -> Pod\/demo\/serv(?:er|\S*…)\s+mutual_tls\s+0B\s+0B\s+\S+s\n$/);
  t.ok(widest(conns.stdout) <= 100, `fits 100 columns:\n${conns.stdout}`);
});

t.test('proxy-config endpoints: the balancing-state table and its JSON', async (t) => {
  const rig = await adminRig(t);
  const table = await meshlet('proxy-config', 'endpoints', '--admin', rig.admin, '--admin-token-file', rig.tokenFile);
  t.equal(table.code, 0, table.stderr);
  // No Service in the rig's snapshot: no balancer, the header alone.
  t.equal(table.stdout, 'SERVICE PORT  LB  ENDPOINT  WORKLOAD  ZONE  WEIGHT  OUTSTANDING  EWMA  EJECTED  OUTLIER  WORKER\n');
  const json = await meshlet('proxy-config', 'endpoints', '--admin', rig.admin, '--admin-token-file', rig.tokenFile, '-o', 'json');
  t.same(JSON.parse(json.stdout), []);
});

t.test('proxy-config routes: routes in force with Accepted and ResolvedRefs', async (t) => {
  const rig = await adminRig(t);
  const base = rig.agent.snapshot;
  const web = { key: 'demo/web', name: 'web', namespace: 'demo', vips: ['10.96.0.10'], ports: [{ port: 80, targetPort: 8080 }], endpoints: [] };
  const rule = (backendRefs: Array<{ name: string; namespace: string; port?: number; weight: number }>) => ({ matches: [{ path: { type: 'PathPrefix' as const, value: '/', prefix: '' }, headers: [], queryParams: [] }], filters: [], backendRefs, timeouts: {} });
  await rig.agent.applySnapshot({
    ...base, version: 'v2', services: [web],
    routes: [
      { kind: 'HTTPRoute', namespace: 'demo', name: 'good', creationTimestamp: 0, parents: [{ namespace: 'demo', name: 'web', port: 80 }], rules: [rule([{ name: 'web', namespace: 'demo', port: 80, weight: 90 }])] },
      { kind: 'HTTPRoute', namespace: 'demo', name: 'dangling', creationTimestamp: 0, parents: [{ namespace: 'demo', name: 'web' }], rules: [rule([{ name: 'web', namespace: 'demo', weight: 1 }, { name: 'gone', namespace: 'demo', port: 80, weight: 1 }])] },
      // Over the node's budget of route regular expressions: not applied, and said so.
      {
        kind: 'HTTPRoute', namespace: 'demo', name: 'greedy', creationTimestamp: 1, parents: [{ namespace: 'demo', name: 'web' }],
        rules: [{ ...rule([{ name: 'web', namespace: 'demo', weight: 1 }]), matches: Array.from({ length: 513 }, (_, i) => ({ path: { type: 'RegularExpression' as const, value: `/p${i}/.*` }, headers: [], queryParams: [] })) }],
      },
    ],
  });
  const json = await meshlet('proxy-config', 'routes', '--admin', rig.admin, '--admin-token-file', rig.tokenFile, '-o', 'json');
  t.equal(json.code, 0, json.stderr);
  t.same(JSON.parse(json.stdout), [
    { route: 'demo/good', kind: 'HTTPRoute', parents: 'demo/web:80', rules: 1, backends: 'demo/web:80 w90', accepted: 'True', resolvedRefs: 'True', reason: 'ResolvedRefs', message: '' },
    { route: 'demo/dangling', kind: 'HTTPRoute', parents: 'demo/web', rules: 1, backends: 'demo/web w1,demo/gone:80 w1', accepted: 'True', resolvedRefs: 'False', reason: 'BackendNotFound', message: 'backends not found: demo/gone:80' },
    {
      route: 'demo/greedy', kind: 'HTTPRoute', parents: 'demo/web', rules: 1, backends: 'demo/web w1', accepted: 'False', resolvedRefs: 'True', reason: 'NotApplied',
      message: 'its 513 regular expressions would take the node over 512 route regular expressions (the older routes applied hold 0); not applied',
    },
  ]);
  const table = await meshlet('proxy-config', 'routes', '--admin', rig.admin, '--admin-token-file', rig.tokenFile);
  t.match(table.stdout, /^ROUTE\s+KIND\s+PARENTS\s+RULES\s+BACKENDS\s+ACCEPTED\s+RESOLVED\s+REASON\n/);
  t.match(table.stdout, /demo\/dangling\s+HTTPRoute\s+demo\/web\s+1\s+.*False\s+BackendNotFound/);
});

t.test('log-level: sets all or one component; bad values exit 64 and change nothing', async (t) => {
  const rig = await adminRig(t);
  const all = await meshlet('log-level', 'debug', '--admin', rig.admin, '--admin-token-file', rig.tokenFile);
  t.equal(all.code, 0, all.stderr);
  t.match(all.stdout, /^\(root\)\s+debug$/m);
  t.equal(rig.agent.logLevels.levels().root, 'debug');
  const one = await meshlet('log-level', 'warn', '--component', 'outbound', '--admin', rig.admin, '--admin-token-file', rig.tokenFile);
  t.equal(one.code, 0, one.stderr);
  t.equal(rig.agent.logLevels.levels().components['outbound'], 'warn');
  t.equal(rig.agent.logLevels.levels().root, 'debug');
  const badLevel = await meshlet('log-level', 'loud', '--admin', rig.admin, '--admin-token-file', rig.tokenFile);
  t.equal(badLevel.code, 64);
  t.match(badLevel.stderr, /level "loud": must be one of/);
  const badComponent = await meshlet('log-level', 'info', '--component', 'nope', '--admin', rig.admin, '--admin-token-file', rig.tokenFile);
  t.equal(badComponent.code, 64);
  t.match(badComponent.stderr, /--component "nope": the agent refused it: component="nope": unknown/);
  t.equal(rig.agent.logLevels.levels().root, 'debug', 'nothing changed');
  rig.agent.logLevels.set('silent'); // the rig's logs stay out of the TAP stream
});

t.test('bad flags exit 64 naming the flag and value; an unreachable agent exits 1', async (t) => {
  const badAdmin = await meshlet('status', '--admin', 'localhost');
  t.equal(badAdmin.code, 64);
  t.match(badAdmin.stderr, /--admin "localhost": no port/);
  const badOut = await meshlet('proxy-config', 'certs', '-o', 'xml', '--admin', '127.0.0.1:1');
  t.equal(badOut.code, 64);
  t.match(badOut.stderr, /meshlet proxy-config: -o\/--output "xml" is not a format: use text \(or its alias table\), json or yaml/);
  const badKind = await meshlet('proxy-config', 'clusters');
  t.equal(badKind.code, 64);
  t.match(badKind.stderr, /kind "clusters": must be one of workloads, services, routes, endpoints, connections, certs, policies, resilience, config/);
  const unknown = await meshlet('status', '--admn', '127.0.0.1:1');
  t.equal(unknown.code, 64, 'commander usage errors exit 64 too');
  t.match(unknown.stderr, /unknown option '--admn'/);
  const componentOnly = await meshlet('log-level', '--component', 'outbound', '--admin', '127.0.0.1:1');
  t.equal(componentOnly.code, 64, '--component without a level to set');
  t.match(componentOnly.stderr, /--component: only with a LEVEL to set/);
  const port = await closedPort();
  for (const args of [['status'], ['proxy-config', 'workloads'], ['log-level', 'info']]) {
    const down = await meshlet(...args, '--admin', `127.0.0.1:${port}`);
    t.equal(down.code, 1, args.join(' '));
    t.match(down.stderr, new RegExp(`cannot reach the agent's admin API at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
    t.match(down.stderr, /check that the agent runs on this node/);
  }
});

t.test('the admin token: missing, unreadable or stale files exit 1 with MESHLET_ERR_ADMIN_UNAUTHORIZED naming the file', async (t) => {
  const rig = await adminRig(t);
  const missing = `${rig.tokenFile}.missing`;
  for (const args of [['status'], ['proxy-config', 'workloads'], ['log-level', 'debug']]) {
    const run = await meshlet(...args, '--admin', rig.admin, '--admin-token-file', missing);
    t.equal(run.code, 1, `${args.join(' ')}: exit 1`);
    t.match(run.stderr, /answered 401: cannot read the admin token file \S+admin-token\.missing \(ENOENT\)/);
    t.match(run.stderr, /run as root on the node/);
  }
  t.equal(rig.agent.logLevels.levels().root, 'silent', 'log-level without the token changed nothing');
  const stale = join(dirname(rig.tokenFile), 'stale-token');
  writeFileSync(stale, `${'0'.repeat(64)}\n`, { mode: 0o600 });
  const wrong = await meshlet('log-level', 'debug', '--admin', rig.admin, '--admin-token-file', stale);
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /answered 403: the token in \S+stale-token is not the agent's/);
  t.equal(rig.agent.logLevels.levels().root, 'silent', 'a wrong token changed nothing');
  const right = await meshlet('log-level', 'error', '--admin', rig.admin, '--admin-token-file', rig.tokenFile);
  t.equal(right.code, 0, right.stderr);
  t.equal(rig.agent.logLevels.levels().root, 'error', 'with the token it works');
  rig.agent.logLevels.set('silent');
});
