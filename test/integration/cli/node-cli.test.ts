/**
 * `--node NAME` on `status`, `proxy-config`, `log-level` and `tap`, run through commander with a
 * captured io, against a fake Kubernetes API (pod list, nodes, and the kubelet's port-forward
 * and exec websockets, fake-pod-streams.ts) whose agent pod forwards to a real agent's admin
 * API in-process on 127.0.0.1. The node's agent pod is found, its token read in the pod, its
 * admin port reached through the port-forward; each way it can fail gives its message and a
 * non-zero exit.
 */
import { Command, CommanderError } from 'commander';
import { execFile } from 'node:child_process';
import { hostname } from 'node:os';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { AdminIo } from '../../../src/cli/admin-client.js';
import { registerLogLevelCommand } from '../../../src/cli/log-level-command.js';
import { registerProxyConfigCommand } from '../../../src/cli/proxy-config-command.js';
import { registerStatusCommand } from '../../../src/cli/status-command.js';
import { registerTapCommand } from '../../../src/cli/tap-command.js';
import { registerTopCommand } from '../../../src/cli/top-command.js';
import { FakeKubeApi, type KubeJson } from '../../helpers/fake-kube-api.js';
import { servePodStreams, type PodStreams } from '../../helpers/fake-pod-streams.js';
import { adminRig } from '../agent/admin-rig.js';
import { tapRig, tunnelRoundTrip, until } from '../agent/tap-rig.js';

type Teardown = { teardown(fn: () => unknown): void };

interface Run {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | undefined;
}

/** `meshlet ARGS...` with the node-reaching commands registered; `onOut` sees stdout as it comes. */
async function meshlet(args: readonly string[], onOut: (all: string) => void = () => undefined): Promise<Run> {
  let stdout = '';
  let stderr = '';
  let code: number | undefined;
  const io: AdminIo = {
    stdout: (s) => {
      stdout += s;
      onOut(stdout);
    },
    stderr: (s) => (stderr += s),
    exit: (c) => (code = c),
  };
  const program = new Command('meshlet').exitOverride();
  registerStatusCommand(program, io);
  registerProxyConfigCommand(program, io);
  registerLogLevelCommand(program, io);
  registerTapCommand(program, io);
  registerTopCommand(program, io);
  try {
    await program.parseAsync(['node', 'meshlet', ...args]);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
  }
  return { stdout, stderr, code };
}

const NS = 'meshlet-system';

/** An agent pod of the DaemonSet on `node`, its agent serving the admin API on `port`. */
function agentPod(name: string, node: string, port: number, opts: { ready?: boolean; phase?: string; created?: string; deleting?: boolean } = {}): KubeJson {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: NS,
      labels: { 'app.kubernetes.io/name': 'meshlet-agent', 'app.kubernetes.io/part-of': 'meshlet' },
      creationTimestamp: opts.created ?? '2026-12-01T10:00:00Z',
      ...(opts.deleting === true ? { deletionTimestamp: '2026-12-01T11:00:00Z' } : {}),
    },
    spec: { nodeName: node, containers: [{ name: 'agent', image: 'meshlet:0.1.0', args: ['agent', `--admin-port=${port}`, '--state-dir=/var/lib/meshlet'] }] },
    status: { phase: opts.phase ?? 'Running', conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
  };
}

const node = (name: string): KubeJson => ({ apiVersion: 'v1', kind: 'Node', metadata: { name } });

/** A fake cluster: node-a (agent pod forwarding to `port`, its token `token`) and node-b (no agent pod). */
async function cluster(t: Teardown, port: number, token: string): Promise<{ api: FakeKubeApi; streams: PodStreams; kubeconfig: string }> {
  const api = await FakeKubeApi.start();
  t.teardown(() => api.close());
  const streams = servePodStreams(api, NS);
  api.apply(node('node-a'), node('node-b'), agentPod('meshlet-agent-aaaaa', 'node-a', port));
  streams.exec.set('meshlet-agent-aaaaa', { stdout: `${token}\n` });
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-node-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { api, streams, kubeconfig: await api.writeKubeconfig(dir) };
}

const portOf = (url: string): number => Number(new URL(url).port);

/** A loopback port with nothing listening: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

t.test('status, proxy-config and log-level --node reach the agent of that node through the port-forward', async (t) => {
  const rig = await adminRig(t);
  rig.capture.drift = { inSync: true, detail: {} };
  const { streams, kubeconfig } = await cluster(t, portOf(rig.admin), rig.token);
  const k = ['--node', 'node-a', '--kubeconfig', kubeconfig];

  const text = await meshlet(['status', ...k]);
  t.equal(text.code, 0, text.stdout + text.stderr);
  t.match(text.stdout, /^agent node node-a \(pod meshlet-system\/meshlet-agent-aaaaa\)\n/);
  t.match(text.stdout, /^workloads\s+1 on this node, 1 in the mesh; 0 services$/m);
  t.same(streams.execs[0], { pod: 'meshlet-agent-aaaaa', container: 'agent', command: ['cat', '/run/meshlet/admin-token'] }, 'the token is read in the agent container');
  t.equal(streams.forwards[0]?.port, portOf(rig.admin), 'the port the pod spec gives (--admin-port)');

  const json = await meshlet(['status', ...k, '-o', 'json']);
  t.equal(json.code, 0, json.stderr);
  const view = JSON.parse(json.stdout) as { agent: string; healthy: boolean };
  t.equal(view.agent, 'node node-a (pod meshlet-system/meshlet-agent-aaaaa)');
  t.equal(view.healthy, true);

  const local = await meshlet(['proxy-config', 'workloads', '--admin', rig.admin, '--admin-token-file', rig.tokenFile, '-o', 'json']);
  const remote = await meshlet(['proxy-config', 'workloads', ...k, '-o', 'json']);
  t.equal(remote.code, 0, remote.stderr);
  t.same(JSON.parse(remote.stdout), JSON.parse(local.stdout), 'the same answer as on the node itself');

  const set = await meshlet(['log-level', 'warn', ...k]);
  t.equal(set.code, 0, set.stderr);
  t.match(set.stdout, /^\(root\)\s+warn$/m);
  const shown = await meshlet(['log-level', '--admin', rig.admin, '--admin-token-file', rig.tokenFile, '-o', 'json']);
  t.equal((JSON.parse(shown.stdout) as { root: string }).root, 'warn', 'the agent behind the port-forward changed its level');
});

t.test('--context picks the cluster as kubectl does; an API that cannot be reached is named', async (t) => {
  const rig = await adminRig(t);
  rig.capture.drift = { inSync: true, detail: {} };
  const { api } = await cluster(t, portOf(rig.admin), rig.token);
  const dead = await closedPort();
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-node-ctx-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{ name: live, cluster: { server: "${api.url}", insecure-skip-tls-verify: true } }, { name: gone, cluster: { server: "http://127.0.0.1:${dead}", insecure-skip-tls-verify: true } }]`,
    'users: [{ name: fake, user: { token: fake-token } }]',
    'contexts: [{ name: live, context: { cluster: live, user: fake } }, { name: gone, context: { cluster: gone, user: fake } }]',
    'current-context: gone',
    '',
  ].join('\n'));
  const current = await meshlet(['status', '--node', 'node-a', '--kubeconfig', kubeconfig]);
  t.equal(current.code, 1);
  t.match(current.stderr, new RegExp(`cannot list the agent pods of node node-a at http://127\\.0\\.0\\.1:${dead}: ECONNREFUSED`));
  const chosen = await meshlet(['status', '--node', 'node-a', '--kubeconfig', kubeconfig, '--context', 'live']);
  t.equal(chosen.code, 0, chosen.stderr);
  const unknown = await meshlet(['status', '--node', 'node-a', '--kubeconfig', kubeconfig, '--context', 'nope']);
  t.equal(unknown.code, 64);
  t.match(unknown.stderr, /--context "nope" is not in kubeconfig .*; its contexts: live, gone/);
});

t.test('tap --node streams that node\'s events', async (t) => {
  const rig = await tapRig(t);
  const token = readFileSync(rig.tokenFile, 'utf8').trim();
  const { kubeconfig } = await cluster(t, portOf(rig.admin), token);
  let started = false;
  const run = meshlet(['tap', '--node', 'node-a', '--kubeconfig', kubeconfig, '--kind', 'connection', '--max', '1', '-o', 'json'], (out) => (started ||= out.includes('"tap.start"')));
  await until('the tap stream has started', () => started);
  await tunnelRoundTrip(rig, 'through the port-forward');
  const res = await run;
  t.equal(res.code, 0, res.stderr);
  const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(lines.find((l) => l['type'] === 'connection.open')?.['dst_workload'], 'Pod/demo/server');
  t.equal(lines.at(-1)?.['reason'], 'max');
});

t.test('top --node --once prints one refresh from that node\'s stream', async (t) => {
  const rig = await tapRig(t);
  const token = readFileSync(rig.tokenFile, 'utf8').trim();
  const { streams, kubeconfig } = await cluster(t, portOf(rig.admin), token);
  const res = await meshlet(['top', '--node', 'node-a', '--kubeconfig', kubeconfig, '--once', '--interval', '500ms', '-o', 'json']);
  t.equal(res.code, 0, res.stderr);
  const refresh = JSON.parse(res.stdout) as { pairs: unknown[]; window_s: number };
  t.equal(refresh.window_s, 0.5);
  t.same(refresh.pairs, [], 'no traffic in the window');
  t.equal(streams.forwards.length, 1, 'one forwarded connection: the /tap stream');
});

t.test('each way --node can fail says what is wrong and exits 1', async (t) => {
  const rig = await adminRig(t);
  const { api, streams, kubeconfig } = await cluster(t, portOf(rig.admin), rig.token);
  const run = (...args: string[]): Promise<Run> => meshlet(['status', '--kubeconfig', kubeconfig, ...args]);

  const noNode = await run('--node', 'node-x');
  t.equal(noNode.code, 1);
  t.match(noNode.stderr, /meshlet status: no such node: node-x/);

  const noPod = await run('--node', 'node-b');
  t.equal(noPod.code, 1);
  t.match(noPod.stderr, /no meshlet agent pod on node node-b/);

  api.apply(node('node-c'), agentPod('meshlet-agent-ccccc', 'node-c', portOf(rig.admin), { ready: false }));
  const notReady = await run('--node', 'node-c');
  t.equal(notReady.code, 1);
  t.match(notReady.stderr, /agent pod meshlet-system\/meshlet-agent-ccccc on node node-c is Running but not Ready/);

  api.apply(node('node-p'), agentPod('meshlet-agent-ppppp', 'node-p', portOf(rig.admin), { phase: 'Pending', ready: false }));
  const pending = await run('--node', 'node-p');
  t.match(pending.stderr, /meshlet-agent-ppppp on node node-p is Pending \(not Running\)/);

  api.failNext(`/api/v1/namespaces/${NS}/pods`, 403);
  const noList = await run('--node', 'node-a');
  t.equal(noList.code, 1);
  t.match(noList.stderr, /forbidden: the kubeconfig's user may not list pods in namespace meshlet-system/);

  streams.forbid.add('exec');
  const noExec = await run('--node', 'node-a');
  t.equal(noExec.code, 1);
  t.match(noExec.stderr, /may not create pods\/exec in namespace meshlet-system \(to read the admin token; pass --admin-token-file/);
  const execs = streams.execs.length;
  rig.capture.drift = { inSync: true, detail: {} };
  const withFile = await run('--node', 'node-a', '--admin-token-file', rig.tokenFile);
  t.equal(withFile.code, 0, withFile.stderr);
  t.equal(streams.execs.length, execs, 'a token file given: no exec');
  streams.forbid.delete('exec');

  streams.forbid.add('portforward');
  const noForward = await run('--node', 'node-a');
  t.equal(noForward.code, 1);
  t.match(noForward.stderr, /may not create pods\/portforward in namespace meshlet-system/);
  streams.forbid.delete('portforward');

  const dead = await closedPort();
  api.apply(node('node-d'), agentPod('meshlet-agent-ddddd', 'node-d', dead));
  streams.exec.set('meshlet-agent-ddddd', { stdout: rig.token });
  const refused = await run('--node', 'node-d');
  t.equal(refused.code, 1);
  t.match(refused.stderr, new RegExp(`port-forward to meshlet-system/meshlet-agent-ddddd:${dead} failed: error forwarding port ${dead}.*connection refused`));

  // The kubelet connects, but what listens in the pod hangs up at once: the agent, not the forward.
  const hangUp = net.createServer((c) => c.destroy());
  await new Promise<void>((r) => hangUp.listen(0, '127.0.0.1', r));
  t.teardown(() => hangUp.close());
  const hangPort = (hangUp.address() as AddressInfo).port;
  api.apply(node('node-f'), agentPod('meshlet-agent-fffff', 'node-f', hangPort));
  streams.exec.set('meshlet-agent-fffff', { stdout: rig.token });
  const hungUp = await run('--node', 'node-f');
  t.equal(hungUp.code, 1);
  t.match(hungUp.stderr, new RegExp(`cannot reach the agent's admin API at node node-f \\(pod meshlet-system/meshlet-agent-fffff\\) \\(.+\\), through the port-forward to meshlet-system/meshlet-agent-fffff:${hangPort} \\(kubectl -n meshlet-system logs meshlet-agent-fffff`));
  t.notMatch(hungUp.stderr, /agent runs on this node/, "no hint about this host's agent");
});

t.test('the token read in the pod is bounded and checked before it is sent', async (t) => {
  const rig = await adminRig(t);
  const { api, streams, kubeconfig } = await cluster(t, portOf(rig.admin), rig.token);
  api.apply(node('node-e'), agentPod('meshlet-agent-eeeee', 'node-e', portOf(rig.admin)));
  const run = (): Promise<Run> => meshlet(['status', '--node', 'node-e', '--kubeconfig', kubeconfig]);

  const missing = await run();
  t.equal(missing.code, 1);
  t.match(missing.stderr, /reading the admin token meshlet-system\/meshlet-agent-eeeee:\/run\/meshlet\/admin-token failed: cat: .*No such file or directory/);

  streams.exec.set('meshlet-agent-eeeee', { stdout: Buffer.alloc(64 * 1024, 'a') });
  const huge = await run();
  t.equal(huge.code, 1);
  t.match(huge.stderr, /larger than 512 bytes: not an admin token file/);

  streams.exec.set('meshlet-agent-eeeee', { stdout: 'x\r\nInjected: header\n' });
  const injected = await run();
  t.equal(injected.code, 1);
  t.match(injected.stderr, /does not hold a token/);

  streams.exec.set('meshlet-agent-eeeee', { stdout: 'f'.repeat(64) });
  const stale = await run();
  t.equal(stale.code, 1);
  t.match(stale.stderr, /answered 403: the token in meshlet-system\/meshlet-agent-eeeee:\/run\/meshlet\/admin-token is not the agent's/);
});

/** The real `meshlet` in a child process with no kubeconfig anywhere (a systemd host); async: the agent is in this process. */
function systemdMeshlet(home: string, args: readonly string[]): Promise<Run> {
  const main = new URL('../../../src/cli/main.js', import.meta.url).pathname;
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home };
  return new Promise((resolve) => {
    execFile(process.execPath, [main, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ stdout, stderr, code });
    });
  });
}

t.test('without a kubeconfig, --node is this host\'s agent on its local port (systemd), or an error for another', async (t) => {
  const rig = await adminRig(t);
  rig.capture.drift = { inSync: true, detail: {} };
  const home = mkdtempSync(join(tmpdir(), 'meshlet-node-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const self = await systemdMeshlet(home, ['status', '--node', hostname().toLowerCase().split('.')[0] ?? '', '--admin', rig.admin, '--admin-token-file', rig.tokenFile, '-o', 'json']);
  t.equal(self.code, 0, self.stderr);
  t.equal((JSON.parse(self.stdout) as { agent: string }).agent, `node ${hostname().toLowerCase().split('.')[0] ?? ''} (this host, ${rig.admin})`);
  const other = await systemdMeshlet(home, ['status', '--node', 'some-other-host']);
  t.equal(other.code, 1);
  t.match(other.stderr, /--node some-other-host: no kubeconfig .*is not this host/);
});

t.test('flags that do not go together with --node are usage errors (64)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-node-flags-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
  const withAdmin = await meshlet(['status', '--node', 'node-a', '--kubeconfig', kubeconfig, '--admin', '127.0.0.1:15000']);
  t.equal(withAdmin.code, 64);
  t.match(withAdmin.stderr, /--admin "127\.0\.0\.1:15000" and --node node-a do not go together/);
  const kubeAlone = await meshlet(['proxy-config', 'workloads', '--kubeconfig', kubeconfig]);
  t.equal(kubeAlone.code, 64);
  t.match(kubeAlone.stderr, /--kubeconfig and --context go with --node/);
  const badName = await meshlet(['log-level', '--node', 'Node_A', '--kubeconfig', kubeconfig]);
  t.equal(badName.code, 64);
  t.match(badName.stderr, /--node "Node_A": not a node name/);
  const noContext = await meshlet(['status', '--node', 'node-a', '--kubeconfig', kubeconfig]);
  t.equal(noContext.code, 64);
  t.match(noContext.stderr, /has no current context with a cluster/);
});
