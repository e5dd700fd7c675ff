import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { Lab, listLabNetns, type LabOptions, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

const FAKE_AGENT = fileURLToPath(new URL('../helpers/fake-agent.js', import.meta.url));

function topo(name: string): LabTopology {
  return {
    name,
    nodes: [{ name: 'n1' }, { name: 'n2' }],
    namespaces: [{ name: 'app', labels: {} }],
    pods: [{ name: 'p1', namespace: 'app', node: 'n1' }],
    services: [],
  };
}

function fake(extra: readonly string[] = []): Pick<LabOptions, 'agentCommand'> {
  return { agentCommand: (node, ctx) => ({ command: process.execPath, args: [FAKE_AGENT, '--node', node, '--config', ctx.configDir, ...extra] }) };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('agents start in their node namespace, are ready, stop, restart and die with the lab', async (t) => {
  if (!requireNamespaces(t)) return;
  const lab = await Lab.up(topo('tagent'), { ...fake() });
  t.teardown(() => lab.down());

  for (const node of ['n1', 'n2']) {
    const log = lab.agentLog(node);
    t.match(log, /"msg":"agent ready"/, `${node} logged its readiness to logs/${node}.log`);
    t.match(log, new RegExp(`"addresses":\\[[^\\]]*"${lab.nodeAddress(node).replace(/\./g, '\\.')}"`), `${node}'s agent runs in the node namespace`);
  }
  const record = JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as { agents: Record<string, number | null>; plan: { pods: { address: string }[] } };
  t.equal(record.agents['n1'], lab.agentPid('n1'), 'lab.json records the agent pids');
  t.equal(record.plan.pods[0]?.address, '198.18.1.10', 'and the addresses');

  const firstPid = lab.agentPid('n1');
  await lab.stopAgent('n1');
  t.equal(lab.agentPid('n1'), undefined, 'stopAgent resolves once the agent exited');
  t.match(lab.agentLog('n1'), /"msg":"draining"/, 'the agent got SIGTERM');

  await lab.startAgent('n1');
  const secondPid = lab.agentPid('n1');
  t.type(secondPid, 'number', 'startAgent waited for the new process');
  t.not(secondPid, firstPid, 'startAgent started a new process');

  await lab.killAgent('n2');
  t.equal(lab.agentPid('n2'), undefined, 'killAgent resolves once it is dead');

  await lab.down();
  t.type(secondPid, 'number', 'the remaining agent had a pid');
  t.equal(secondPid === undefined ? undefined : pidAlive(secondPid), false, 'down stopped the remaining agent');
  t.same(await listLabNetns('tagent'), []);
});

t.test('an agent that ignores SIGTERM is SIGKILLed after the grace', async (t) => {
  if (!requireNamespaces(t)) return;
  const lab = await Lab.up(topo('tstubrn'), { ...fake(['--ignore-sigterm']), stopGraceMs: 300 });
  t.teardown(() => lab.down());
  const started = Date.now();
  await lab.stopAgent('n1');
  t.equal(lab.agentPid('n1'), undefined, 'stopped');
  t.ok(Date.now() - started >= 250, 'after the grace');
  t.match(lab.agentLog('n1'), /ignoring SIGTERM/);
});

t.test('an agent that never gets ready fails up with its log tail, and nothing is left', async (t) => {
  if (!requireNamespaces(t)) return;
  const err: unknown = await Lab.up(topo('tnoready'), { ...fake(['--never-ready']), readyTimeoutMs: 4000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(isMeshletError(err, 'MESHLET_ERR_LAB'), 'MESHLET_ERR_LAB');
  t.match((err as Error).message, /agent of node n1 not ready after 4000 ms/);
  t.match((err as Error).message, /agent starting/, 'quotes the log tail');
  t.same(await listLabNetns('tnoready'), [], 'the half-built lab was torn down');
});

t.test('an agent that exits at start fails up at once with its output', async (t) => {
  if (!requireNamespaces(t)) return;
  const started = Date.now();
  const err: unknown = await Lab.up(topo('tearly'), { ...fake(['--exit-code', '3']), readyTimeoutMs: 10_000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(isMeshletError(err, 'MESHLET_ERR_LAB'), 'MESHLET_ERR_LAB');
  t.match((err as Error).message, /exited \(code 3/);
  t.match((err as Error).message, /failing on purpose/, 'stderr is in the log too');
  t.ok(Date.now() - started < 8000, 'without waiting for the readiness timeout');
  t.same(await listLabNetns('tearly'), []);
});
