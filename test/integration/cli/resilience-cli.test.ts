/**
 * `meshlet proxy-config resilience` against a real agent's admin API (in-process, port 0): the
 * table with every column filled from a snapshot that has every section, the live counters of
 * two processes, the adaptive limits and mirrors, `-o json`, and the configuration alone when
 * the admin server has no live source.
 */
import { Command, CommanderError } from 'commander';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import type { ProcessResilience } from '../../../src/agent/admin/resilience-rows.js';
import { AdminServer } from '../../../src/agent/admin/server.js';
import { newAdminToken, writeAdminToken } from '../../../src/agent/admin/token.js';
import type { OutputIo } from '../../../src/cli/output.js';
import { registerProxyConfigCommand } from '../../../src/cli/proxy-config-command.js';
import { RESILIENCE_COLUMNS, resilienceCells } from '../../../src/cli/resilience-table.js';
import { adminRig, type AdminRig } from '../agent/admin-rig.js';
import { resilienceSnapshot } from '../../unit/agent/admin/resilience-fixture.js';

interface Run {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | undefined;
}

async function meshlet(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  let code: number | undefined;
  // A 100-column terminal: the table is fitted to it (through a pipe it would not be cut).
  const io: OutputIo = { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), exit: (c) => (code = c), terminal: { isTTY: true, columns: 100, env: {} } };
  const program = new Command('meshlet').exitOverride();
  registerProxyConfigCommand(program, io);
  try {
    await program.parseAsync(['node', 'meshlet', ...args]);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
  }
  return { stdout, stderr, code };
}

const PROCESSES: ProcessResilience[] = [
  {
    worker: 3001,
    servicePorts: [{ servicePort: 'demo/web|80', requests: 7, pending: 2, retries: 1, retryBudget: { ratio: 0.2, minPerSecond: 10, ttlMs: 10_000, available: 12 }, latencyP50Ms: 3, latencyP99Ms: 30 }],
    adaptiveLimits: [{ workload: 'demo/web', port: 8080, limit: 17 }],
  },
  { worker: 3002, servicePorts: [{ servicePort: 'demo/web|80', requests: 0, pending: 0, retries: 0 }], adaptiveLimits: [] },
];

/** A second admin server on the rig's agent, with a live source; its address and token file. */
async function liveAdmin(t: Test, rig: AdminRig, resilience: () => Promise<readonly ProcessResilience[]>): Promise<{ admin: string; tokenFile: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-resilience-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const token = newAdminToken();
  const tokenFile = join(dir, 'admin-token');
  await writeAdminToken(tokenFile, token);
  const admin = new AdminServer({ agent: rig.agent, logger: pino({ level: 'silent' }), quit: () => undefined, token, resilience });
  t.teardown(() => admin.close());
  const addr = await admin.start(0, '127.0.0.1');
  return { admin: `127.0.0.1:${addr.port}`, tokenFile };
}

async function rigWithPolicies(t: Test): Promise<AdminRig> {
  const rig = await adminRig(t);
  const snapshot = resilienceSnapshot();
  await rig.agent.applySnapshot({ ...snapshot, version: 'v2', nodeAddress: '127.0.0.1', localWorkloads: [] });
  return rig;
}

t.test('the table: every column from the policy, live counters per process, routes, adaptive limits, mirrors', async (t) => {
  const rig = await rigWithPolicies(t);
  const { admin, tokenFile } = await liveAdmin(t, rig, async () => PROCESSES);
  const run = await meshlet('proxy-config', 'resilience', '--admin', admin, '--admin-token-file', tokenFile);
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stderr, '');
  const out = run.stdout;
  t.match(out, new RegExp(`^${RESILIENCE_COLUMNS.join('\\s+')}$`, 'm'), 'the header');
  t.ok(Math.max(...out.split('\n').map((l) => l.length)) <= 100, 'fits 100 columns');
  t.match(out, /^demo\/web\|80 .* 3001$/m, 'worker 3001 has a row');
  t.match(out, /^demo\/web\|80 .* 3002$/m, 'worker 3002 has its own row');
  t.match(out, /^demo\/web\|8080 .* -$/m, 'a port with no live state: WORKER -, its key whole');
  t.notMatch(out, /^demo\/api/m, 'a Service with no policy and no live state is not listed');
  t.match(out, /^HTTPRoute\/demo\/web-route /m);
  t.match(out, /adaptive concurrency \(destination side\)\nWORKLOAD\s+PORT\s+LIMIT\s+WORKER\ndemo\/web\s+8080\s+17\s+3001\n/);
  t.match(out, /^HTTPRoute\/demo\/web-route\s+0\s+demo\/shadow:80\s+10%$/m);
  t.match(out, /^HTTPRoute\/demo\/web-route\s+0\s+demo\/gone\s+100%\s+Service demo\/gone not found$/m);
  t.notMatch(out, /live state unavailable/);
  t.match(out, /^live state of processes 3001, 3002$/m);
  t.match(out, /\(-o yaml or -o json for every field of every section\)\n$/);

  // The cells before the table is fitted to 100 columns (long cells are cut with an ellipsis there).
  const json = await meshlet('proxy-config', 'resilience', '-o', 'json', '--admin', admin, '--admin-token-file', tokenFile);
  const cells = resilienceCells(JSON.parse(json.stdout));
  t.same(cells, [
    ['demo/web|80', 'web-resilience', '2s', '3 5xx,reset,409', '0.2/10,12', '7/100 +r1 +p2', 'p95>=20ms', '503@10%,+100ms@5%,rst@2%', '100/1s+1', '3001'],
    ['demo/web|80', 'web-resilience', '2s', '3 5xx,reset,409', '0.2/10', '0/100', 'p95>=20ms', '503@10%,+100ms@5%,rst@2%', '100/1s+1', '3002'],
    ['demo/web|8080', 'web-resilience', '2s', '3 5xx,reset,409', '0.2/10', '-/100', 'p95>=20ms', '503@10%,+100ms@5%,rst@2%', '100/1s+1', '-'],
    ['HTTPRoute/demo/web-route', 'route-faults', '1.5s,3s', '1 gateway-error', '0.1/5', '-', '-', '500@1%?', '-', '-'],
  ]);
});

t.test('-o json: the whole answer, live blocks merged per Service port', async (t) => {
  const rig = await rigWithPolicies(t);
  const { admin, tokenFile } = await liveAdmin(t, rig, async () => PROCESSES);
  const run = await meshlet('proxy-config', 'resilience', '-o', 'json', '--admin', admin, '--admin-token-file', tokenFile);
  t.equal(run.code, 0, run.stderr);
  const body = JSON.parse(run.stdout) as { services: Array<{ service: string; policy: string; sections: Record<string, unknown> }>; servicePorts: Array<{ worker: number }>; live: boolean; processes: number[] };
  t.equal(body.live, true);
  t.same(body.services.map((s) => s.service), ['demo/web']);
  t.equal(body.services[0]?.policy, 'demo/web-resilience');
  t.equal(Object.keys(body.services[0]?.sections ?? {}).length, 10, 'every section');
  t.same(body.servicePorts.map((r) => r.worker), [3001, 3002]);
  t.same(body.processes, [3001, 3002]);
});

t.test('the agent\'s own live state by default; a failing source: the configuration alone, said so', async (t) => {
  const rig = await rigWithPolicies(t);
  const plain = await meshlet('proxy-config', 'resilience', '--admin', rig.admin, '--admin-token-file', rig.tokenFile);
  t.equal(plain.code, 0, plain.stderr);
  t.match(plain.stdout, /^demo\/web\|80 .*-$/m, 'no request yet: no live row');
  t.match(plain.stdout, new RegExp(`^live state of process ${process.pid}$`, 'm'), 'the in-process data path answers under the agent\'s pid');
  const { admin, tokenFile } = await liveAdmin(t, rig, async () => {
    throw new Error('a worker died');
  });
  const failing = await meshlet('proxy-config', 'resilience', '--admin', admin, '--admin-token-file', tokenFile);
  t.equal(failing.code, 0, failing.stderr);
  t.match(failing.stdout, /live state unavailable/);
});

t.test('/resilience needs the admin token', async (t) => {
  const rig = await adminRig(t);
  const res = await fetch(`${rig.admin}/resilience`);
  t.equal(res.status, 401);
  const ok = await fetch(`${rig.admin}/resilience`, { headers: rig.auth });
  t.equal(ok.status, 200);
  t.same(await ok.json(), { services: [], routes: [], servicePorts: [], adaptiveLimits: [], live: true, processes: [process.pid] });
});

t.test('an unknown kind still names resilience among the kinds', async (t) => {
  const rig = await adminRig(t);
  const run = await meshlet('proxy-config', 'resilient', '--admin', rig.admin, '--admin-token-file', rig.tokenFile);
  t.equal(run.code, 64);
  t.match(run.stderr, /resilience/);
});
