/**
 * Certificate renewal under traffic: 10 s certificates (renewed every ~5 s) while a long-lived
 * connection and a stream of new connections cross the mesh. No connection may fail.
 */
import t from 'tap';
import { once } from 'node:events';
import { join } from 'node:path';
import { REPO_ROOT, defaultControllerCommand, withLab, type Lab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

const PEER = join(REPO_ROOT, 'dist/test/e2e/datapath/peer.js');

const topology: LabTopology = {
  name: `rn${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [{ name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
    { name: 'server', namespace: 'demo', node: 'node2', serviceAccount: 'server', labels: { app: 'server' } },
  ],
  services: [{ name: 'server', namespace: 'demo', selector: { app: 'server' }, ports: [{ port: 80, targetPort: 8080 }] }],
};

function issued(lab: Lab, node: string, identity: string): number {
  return lab.agentLog(node).split('\n').filter((l) => l.includes('"certificate issued"') && l.includes(identity)).length;
}

t.test('certificate renewal under traffic drops nothing', async (t) => {
  if (!requireNamespaces(t)) return;
  await withLab(
    topology,
    {
      controller: true,
      controllerCommand: (ctx) => {
        const base = defaultControllerCommand(REPO_ROOT, ctx);
        return { ...base, args: [...base.args, '--cert-ttl', '10'] };
      },
    },
    async (lab) => {
      const server = lab.spawnNode('server', PEER, ['server', '8080']);
      await once(server.stdout!, 'data');
      const vip = lab.serviceVip('demo', 'server');
      const long = lab.spawnNode('client', PEER, ['twice', vip, '80', '12000']);
      const longOut: Buffer[] = [];
      long.stdout!.on('data', (c: Buffer) => longOut.push(c));
      const longExited = once(long, 'exit');
      const failures: string[] = [];
      let attempts = 0;
      const until = Date.now() + 13_000;
      while (Date.now() < until && attempts < 40) {
        attempts += 1;
        const r = await lab.runNode('client', PEER, ['ping', vip, '80'], { timeoutMs: 10_000 });
        if (!r.stdout.includes('"ok":true')) failures.push(r.stdout.trim() || r.stderr.trim());
        await new Promise((res) => setTimeout(res, 300));
      }
      await longExited;
      t.same(failures, [], `${attempts} new connections during renewals, none failed`);
      t.match(Buffer.concat(longOut).toString(), /"ok":true,"pongs":2/, 'the long-lived connection survived every renewal');
      t.ok(issued(lab, 'node1', 'sa/client') >= 2, `client certificate renewed (${issued(lab, 'node1', 'sa/client')} issued)`);
      t.ok(issued(lab, 'node2', 'sa/server') >= 2, `server certificate renewed (${issued(lab, 'node2', 'sa/server')} issued)`);
    },
  );
});
