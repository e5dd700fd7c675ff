/**
 * The L4 data path end to end in a lab: two nodes with real agents, real iptables capture,
 * real mTLS tunnels. One lab serves every subtest, in order.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, REPO_ROOT, defaultAgentCommand, withLab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';
import { waitFor } from '../../helpers/wait-for.js';
import { availableParallelism } from 'node:os';
import { startTcpServer, tcpPeer, type Json } from './tcp-peer-lab.js';

/** An agent's log once it shows `re` (log lines are written in the background), or as it is after a bounded wait. */
async function logShowing(lab: Lab, node: string, re: RegExp): Promise<string> {
  await waitFor(`${node}'s log to show ${re}`, () => re.test(lab.agentLog(node)), { timeoutMs: 10_000 }).catch(() => undefined);
  return lab.agentLog(node);
}

const PEER = join(REPO_ROOT, 'dist/test/e2e/datapath/peer.js');
const PROBE = join(REPO_ROOT, 'dist/test/e2e/datapath/tunnel-probe.js');
const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
const MB = 1024 * 1024;

const topology: LabTopology = {
  name: `dp${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [
    { name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } },
    { name: 'plain', labels: {} },
  ],
  pods: [
    { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
    { name: 'local', namespace: 'demo', node: 'node1', serviceAccount: 'local', labels: { app: 'local' } },
    { name: 'server', namespace: 'demo', node: 'node2', serviceAccount: 'server', labels: { app: 'server' } },
    { name: 'strict', namespace: 'demo', node: 'node2', serviceAccount: 'strict', labels: { app: 'strict' } },
    { name: 'outsider', namespace: 'plain', node: 'node1', labels: { app: 'outsider' } },
  ],
  services: [
    { name: 'server', namespace: 'demo', selector: { app: 'server' }, ports: [{ port: 80, targetPort: 8080 }] },
    { name: 'strict', namespace: 'demo', selector: { app: 'strict' }, ports: [{ port: 80, targetPort: 8080 }] },
    { name: 'local', namespace: 'demo', selector: { app: 'local' }, ports: [{ port: 80, targetPort: 8080 }] },
  ],
  meshTLS: [{ name: 'strict', namespace: 'demo', mode: 'STRICT', selector: { app: 'strict' } }],
};


const STRICT_SERVER = `apiVersion: meshlet.io/v1alpha1
kind: MeshTLS
metadata: {name: server-strict, namespace: demo}
spec:
  mode: STRICT
  selector: {matchLabels: {app: server}}
`;

const peer = (lab: Lab, pod: string, args: string[], timeoutMs = 30_000): Promise<Json> => tcpPeer(lab, pod, args, timeoutMs);
const startServer = startTcpServer;

async function natRules(lab: Lab, node: string): Promise<string> {
  const r = await lab.exec(node, 'iptables-save', ['-t', 'nat']);
  return r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]'))
    .join('\n');
}

t.test('L4 data path in a two-node lab', async (t) => {
  if (!requireNamespaces(t)) return;
  await withLab(
    topology,
    {
      agents: false,
      agentCommand: (node, ctx) => {
        const base = defaultAgentCommand(node, ctx);
        return { ...base, args: [...base.args, '--drain-seconds', '4'] };
      },
    },
    async (lab) => {
      const baseline = await natRules(lab, 'node1');
      for (const node of ['node1', 'node2']) await lab.startAgent(node);
      for (const pod of ['server', 'strict', 'local', 'outsider']) await startServer(lab, pod);
      const vip = (name: string): string => lab.serviceVip('demo', name);

      await t.test('pod on node A -> Service VIP -> pod on node B: 10 MB each way, intact, half-close', async (t) => {
        const r = await peer(lab, 'client', ['send', vip('server'), '80', String(10 * MB), String(10 * MB)]);
        t.equal(r['ok'], true, JSON.stringify(r));
        const server = r['server'] as Json;
        t.equal(server['received'], 10 * MB, 'server received 10 MB');
        t.equal(server['sha256'], r['sentSha256'], 'server hash matches what the client sent');
        t.equal(r['replySha256'], r['expectedReplySha256'], 'client received 10 MB intact');
        // The server only answers after the client's FIN: the reply proves half-close works.
      });

      await t.test('same-node traffic goes through the agent in-process', async (t) => {
        const r = await peer(lab, 'client', ['send', vip('local'), '80', String(MB), String(MB)]);
        t.equal(r['ok'], true, JSON.stringify(r));
        t.equal(r['replySha256'], r['expectedReplySha256']);
        t.match(await logShowing(lab, 'node1', /"mode":"local"/), /"mode":"local"/, 'the agent logged an in-process delivery');
      });

      await t.test('many concurrent connections share one tunnel connection per worker', async (t) => {
        const holder = lab.spawnNode('client', PEER, ['hold', vip('server'), '80', '20', '20']);
        const [line] = (await once(holder.stdout!, 'data')) as [Buffer];
        t.match(line.toString(), /^held 20 0/, '20 connections up');
        const ss = await lab.exec('node1', 'ss', ['-tnH', 'state', 'established', '( dport = :15008 )']);
        const tunnels = ss.stdout.trim().split('\n').filter((l) => l.trim() !== '');
        // Each of the agent's data-path workers (one per core by default) pools its own tunnels.
        const workers = availableParallelism();
        t.ok(tunnels.length >= 1, `a TCP connection node1 -> node2:15008 (found ${tunnels.length}): ${ss.stdout.trim()}`);
        t.ok(tunnels.length <= workers, `at most one TCP connection node1 -> node2:15008 per worker (found ${tunnels.length}, workers ${workers}): ${ss.stdout.trim()}`);
        holder.stdin?.end();
        holder.kill('SIGTERM');
      });

      await t.test('bytes between the nodes are TLS: the fabric never shows the plaintext', async (t) => {
        const pcap = join(lab.dir, 'fabric.pcap');
        // `-i any`, not br0: a bridge device only shows frames addressed to itself, not the
        // frames it forwards between its ports.
        const dump = lab.spawn('fabric', 'tcpdump', ['-i', 'any', '-U', '-s', '0', '-w', pcap, 'tcp']);
        // tcpdump says "listening on" once the capture is armed.
        await new Promise<void>((resolve) => {
          let err = '';
          const timer = setTimeout(resolve, 5000);
          dump.stderr!.on('data', (c: Buffer) => {
            err += c.toString();
            if (err.includes('listening on')) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
        const secret = `MESHLET-SECRET-${randomBytes(8).toString('hex')}`;
        const control = `MESHLET-CONTROL-${randomBytes(8).toString('hex')}`;
        const meshed = await peer(lab, 'client', ['marker', vip('server'), '80', secret]);
        t.equal(meshed['ok'], true, 'meshed marker delivered');
        t.equal(meshed['reply'], `echo:${secret}`);
        // Control: a non-meshed pod sends plaintext across the same fabric, to prove the
        // capture would have seen the secret had it crossed in the clear.
        const plain = await peer(lab, 'outsider', ['marker', lab.podAddress('server'), '8080', control]);
        t.equal(plain['ok'], true, 'plaintext control delivered (PERMISSIVE)');
        // Wait (bounded) until the control shows up in the capture, so a slow tcpdump cannot
        // make the secret's absence meaningless.
        for (let i = 0; i < 50 && !readFileSync(pcap).includes(Buffer.from(control)); i++) {
          await new Promise((r) => setTimeout(r, 100));
        }
        dump.kill('SIGINT');
        await once(dump, 'exit');
        const bytes = readFileSync(pcap);
        t.ok(bytes.includes(Buffer.from(control)), 'the capture sees plaintext when there is plaintext');
        t.notOk(bytes.includes(Buffer.from(secret)), 'the meshed marker never crossed the fabric in the clear');
        rmSync(pcap, { force: true });
      });

      await t.test('MeshTLS: STRICT refuses plaintext, PERMISSIVE lets it through', async (t) => {
        const strict = await peer(lab, 'outsider', ['ping', lab.podAddress('strict'), '8080']);
        t.equal(strict['ok'], false, `plaintext to STRICT refused (${String(strict['error'])})`);
        const permissive = await peer(lab, 'outsider', ['ping', lab.podAddress('server'), '8080']);
        t.equal(permissive['ok'], true, 'plaintext to PERMISSIVE works');
        const meshed = await peer(lab, 'client', ['ping', vip('strict'), '80']);
        t.equal(meshed['ok'], true, 'mTLS to STRICT works');
        t.match(await logShowing(lab, 'node2', /MeshTLS STRICT: plaintext to Pod\/demo\/strict refused/), /MeshTLS STRICT: plaintext to Pod\/demo\/strict refused/, 'the denial is logged');
      });

      await t.test('config edits apply live; a bad edit changes nothing', async (t) => {
        const until = async (pred: () => Promise<boolean>): Promise<boolean> => {
          for (let i = 0; i < 30; i++) {
            if (await pred()) return true;
            await new Promise((r) => setTimeout(r, 200));
          }
          return false;
        };
        const plainOk = async (): Promise<boolean> => (await peer(lab, 'outsider', ['ping', lab.podAddress('server'), '8080']))['ok'] === true;
        lab.writeConfig('zz-server-strict.yaml', STRICT_SERVER);
        t.ok(await until(async () => !(await plainOk())), 'STRICT for demo/server took effect without a restart');
        lab.writeConfig('zz-broken.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n');
        t.ok(await until(async () => /config directory rejected/.test(lab.agentLog('node2'))), 'the bad edit is logged');
        t.match(await logShowing(lab, 'node2', /zz-broken\.yaml/), /zz-broken\.yaml/, 'the log names the file');
        t.notOk(await plainOk(), 'the previous snapshot (STRICT) stays in effect');
        t.equal((await peer(lab, 'client', ['ping', vip('server'), '80']))['ok'], true, 'meshed traffic still flows');
        rmSync(join(lab.paths.configDir, 'zz-broken.yaml'));
        rmSync(join(lab.paths.configDir, 'zz-server-strict.yaml'));
        t.ok(await until(plainOk), 'back to PERMISSIVE once the files are gone');
      });

      await t.test('a CONNECT to anything but a meshed local workload is refused; no cert, no tunnel', async (t) => {
        const serverId = 'spiffe://cluster.local/ns/demo/sa/server';
        const targets = [`${lab.podAddress('client')}:8080`, '198.18.2.250:8080', '127.0.0.1:15021', `${lab.podAddress('outsider')}:8080`, `${lab.podAddress('server')}:8080`];
        const r = await lab.runNode('node1', PROBE, [join(lab.dir, 'state', 'ca'), lab.nodeAddress('node2'), '15008', 'spiffe://cluster.local/ns/demo/sa/client', serverId, ...targets], { timeoutMs: 30_000 });
        const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { connects: Record<string, unknown>; noCert: string };
        t.equal(out.connects[targets[0] as string], 403, 'a pod on another node: refused');
        t.equal(out.connects[targets[1] as string], 403, 'an address nobody has: refused');
        t.equal(out.connects[targets[2] as string], 403, 'the node itself: refused');
        t.equal(out.connects[targets[3] as string], 403, 'a non-meshed pod: refused');
        t.equal(out.connects[targets[4] as string], 200, 'control: the meshed local workload is accepted');
        t.match(out.noCert, /^refused/, `a client without a mesh certificate cannot open a tunnel (${out.noCert})`);
        t.match(await logShowing(lab, 'node2', /is not a meshed workload on this node/), /is not a meshed workload on this node/, 'refusals are logged');
      });

      await t.test('SIGTERM drains: open connections finish, then the agent exits', async (t) => {
        const conn = lab.spawnNode('client', PEER, ['twice', vip('server'), '80', '1500']);
        const connExited = once(conn, 'exit');
        const [first] = (await once(conn.stdout!, 'data')) as [Buffer];
        t.match(first.toString(), /^first/, 'connection established');
        const stopping = lab.stopAgent('node1', 'SIGTERM');
        const chunks: Buffer[] = [];
        conn.stdout!.on('data', (c: Buffer) => chunks.push(c));
        await connExited;
        const result = JSON.parse(Buffer.concat(chunks).toString().trim().split('\n').pop() ?? '{}') as Json;
        // On failure, the agents' last lines say who closed it.
        const tails = result['ok'] === true ? '' : `; node1 log tail:\n${lab.agentLog('node1').slice(-4000)}\nnode2 log tail:\n${lab.agentLog('node2').slice(-3000)}`;
        t.equal(result['ok'], true, `the open connection kept working during the drain (${JSON.stringify(result)})${tails}`);
        await stopping;
        t.match(lab.agentLog('node1'), /"msg":"drained"/, 'the agent drained');
      });

      await t.test('agent down: meshed traffic fails closed; restarted: works again', async (t) => {
        const down = await peer(lab, 'client', ['ping', vip('server'), '80']);
        t.equal(down['ok'], false, 'no agent on node1: the capture rules stay and refuse');
        await lab.startAgent('node1');
        await lab.killAgent('node2');
        const dead = await peer(lab, 'client', ['ping', vip('server'), '80']);
        t.equal(dead['ok'], false, 'node2 agent killed: refused');
        await lab.startAgent('node2');
        const back = await peer(lab, 'client', ['ping', vip('server'), '80']);
        t.equal(back['ok'], true, `restarted: new connections work (${JSON.stringify(back)})`);
      });

      await t.test('meshlet iptables clean leaves the rules exactly as before', async (t) => {
        await lab.stopAgent('node1', 'SIGTERM');
        t.not(await natRules(lab, 'node1'), baseline, 'the agent had applied rules');
        const r = await lab.exec('node1', process.execPath, [CLI, 'iptables', 'clean']);
        t.equal(r.code, 0, r.stderr);
        t.equal(await natRules(lab, 'node1'), baseline, 'nat table back to its state before the agent');
      });
    },
  );
});
