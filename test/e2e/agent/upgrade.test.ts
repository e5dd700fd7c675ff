/**
 * An agent upgrade under load, in a lab (issue 16, item 2): while one client in a pod opens
 * short connections in a tight loop and another sends requests on long connections, both
 * through the mesh to a pod on the other node, each node's agent is replaced in place
 * (`Lab.upgradeAgent`: a new agent takes the old one's listening sockets over, then the old
 * one drains). Every connection and request succeeds: zero refused, zero reset, zero failed;
 * the long connections finish on the old agents, which drain without closing any at the deadline.
 * With source address preservation on (the default): the server sees the client pod's address.
 * A short connection opened as an old agent sends its GOAWAY gets a refused tunnel stream, which
 * the client agent opens again (`tunnel/opening.ts`): before that, about one in 7,000 was reset.
 */
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { REPO_ROOT, defaultAgentCommand, withLab, type Lab, type LabTopology } from '../../../src/lab/index.js';
import type { AgentExit } from '../../../src/lab/agent-process.js';
import { requireNamespaces } from '../helpers/require-root.js';

const SERVER = join(REPO_ROOT, 'dist/test/e2e/helpers/tcp-server.js');
const LOAD = join(REPO_ROOT, 'dist/test/e2e/helpers/upgrade-load.js');
/** The old agents' drain deadline: the long connections close well before it. */
const DRAIN_SECONDS = 30;
/** The short loop's bounds: whichever comes first. */
const SHORT_MAX = 50_000;
const SHORT_MS = 15_000;
/**
 * The long connections live across both upgrades: the test ends them (SIGUSR2) a second after
 * the second upgrade, however long the upgrades took on a loaded machine; this bounds them.
 */
const LONG_MS = 25_000;

const topology: LabTopology = {
  name: `up${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [{ name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
    { name: 'server', namespace: 'demo', node: 'node2', serviceAccount: 'server', labels: { app: 'server' } },
  ],
  services: [{ name: 'echo', namespace: 'demo', selector: { app: 'server' }, ports: [{ name: 'tcp', port: 80, targetPort: 8080, appProtocol: 'tcp' }] }],
};

interface LoadResult {
  readonly mode: string;
  readonly opened: number;
  readonly ok: number;
  readonly refused: number;
  readonly reset: number;
  readonly failed: number;
  readonly requests: number;
  readonly errors: readonly string[];
  readonly starts: Readonly<Record<string, number>>;
}

function runLoad(lab: Lab, args: readonly string[]): { child: ChildProcess; result: Promise<LoadResult> } {
  const child = lab.spawnNode('client', LOAD, args);
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  return { child, result: once(child, 'exit').then(() => JSON.parse(out.trim().split('\n').pop() ?? '{}') as LoadResult) };
}

/** Connections the short loop opened between two instants. */
function openedBetween(r: LoadResult, fromMs: number, toMs: number): number {
  return Object.entries(r.starts).reduce((n, [slot, count]) => (Number(slot) * 100 >= fromMs - 100 && Number(slot) * 100 <= toMs ? n + count : n), 0);
}

/** The `drained` line of the agent with `pid`, from the node's log. */
function drainedLine(lab: Lab, node: string, pid: number): { drained: number; forced: boolean; handedOver: boolean } | undefined {
  for (const line of lab.agentLog(node).split('\n')) {
    if (!line.includes('"msg":"drained"')) continue;
    const entry = JSON.parse(line) as { pid: number; drained: number; forced: boolean; handedOver: boolean };
    if (entry.pid === pid) return entry;
  }
  return undefined;
}

t.test('an agent upgrade under load: zero refused, zero reset, zero failed', async (t) => {
  if (!requireNamespaces(t)) return;
  await withLab(
    topology,
    {
      agentCommand: (node, ctx) => {
        const base = defaultAgentCommand(node, ctx);
        return { ...base, args: [...base.args, '--drain-seconds', String(DRAIN_SECONDS), '--workers', '2'] };
      },
    },
    async (lab) => {
      const server = lab.spawnNode('server', SERVER, ['--port', '8080', '--mode', 'echo']);
      await once(server.stdout!, 'data');
      const vip = lab.serviceVip('demo', 'echo');
      const warm = await runLoad(lab, ['--host', vip, '--mode', 'short', '--max', '20', '--duration-ms', '10000']).result;
      t.equal(warm.ok, 20, 'the mesh carries the echo before the upgrade');

      const long = runLoad(lab, ['--host', vip, '--mode', 'long', '--connections', '4', '--interval-ms', '50', '--duration-ms', String(LONG_MS)]);
      const short = runLoad(lab, ['--host', vip, '--mode', 'short', '--max', String(SHORT_MAX), '--duration-ms', String(SHORT_MS)]).result;
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const windows: { node: string; fromMs: number; toMs: number; oldPid: number; newPid: number; exit: AgentExit }[] = [];
      const upgrades = [];
      // One node after the other, as a rollout does: the next starts once the new agent is ready.
      for (const node of ['node1', 'node2']) {
        const fromMs = Date.now();
        const { oldPid, newPid, oldExited } = await lab.upgradeAgent(node, (DRAIN_SECONDS + 10) * 1000);
        const toMs = Date.now();
        upgrades.push(oldExited.then((exit) => windows.push({ node, fromMs, toMs, oldPid, newPid, exit })));
      }
      // Both old agents drain now: the long connections end on them, well within the deadline.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      long.child.kill('SIGUSR2');
      const [longResult, shortResult] = await Promise.all([long.result, short, ...upgrades]);
      windows.sort((a, b) => a.fromMs - b.fromMs);
      t.equal(windows.length, 2, 'both nodes upgraded');

      for (const r of [shortResult, longResult]) {
        t.equal(r.refused, 0, `${r.mode}: zero refused`);
        t.equal(r.reset, 0, `${r.mode}: zero reset`);
        t.equal(r.failed, 0, `${r.mode}: zero failed`);
        t.same(r.errors, [], `${r.mode}: no error`);
        t.equal(r.ok, r.opened, `${r.mode}: every connection succeeded`);
      }
      t.equal(longResult.opened, 4, 'four long connections');
      t.ok(longResult.requests > 4 * 20, `requests flowed on the long connections (${longResult.requests})`);
      for (const w of windows) {
        const during = openedBetween(shortResult, w.fromMs, w.toMs);
        t.ok(during > 0, `${w.node}: connections opened during its upgrade (${during} in ${w.toMs - w.fromMs} ms)`);
        t.not(w.newPid, w.oldPid, `${w.node}: a new agent process`);
        t.equal(w.exit.code, 0, `${w.node}: the old agent exited cleanly after its drain (not killed)`);
        t.equal(lab.agentPid(w.node), w.newPid, `${w.node}: the new agent is the node's agent`);
        const drained = drainedLine(lab, w.node, w.oldPid);
        t.ok(drained !== undefined, `${w.node}: the old agent logged its drain`);
        t.equal(drained?.handedOver, true, `${w.node}: the old agent had handed its listeners over`);
        t.equal(drained?.forced, false, `${w.node}: the old agent's connections finished within its drain deadline`);
        t.match(lab.agentLog(w.node), /took the listening sockets over/, `${w.node}: the new agent took the sockets over`);
      }
      const node1Drain = drainedLine(lab, 'node1', windows[0]?.oldPid ?? 0);
      t.ok((node1Drain?.drained ?? 0) >= 4, `node1's old agent drained the long connections (${node1Drain?.drained})`);
      t.comment(
        `figures: short loop opened ${shortResult.opened} (ok ${shortResult.ok}, refused ${shortResult.refused}, reset ${shortResult.reset}, failed ${shortResult.failed}); ` +
          windows.map((w) => `${w.node} upgrade ${w.toMs - w.fromMs} ms, ${openedBetween(shortResult, w.fromMs, w.toMs)} opened during it`).join('; ') +
          `; long: ${longResult.opened} connections, ${longResult.requests} requests, failed ${longResult.failed}`,
      );
    },
  );
});
