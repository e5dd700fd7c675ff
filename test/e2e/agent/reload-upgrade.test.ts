/**
 * The systemd upgrade path in a lab (`ExecReload` sends SIGHUP; `Type=notify`): with
 * `$NOTIFY_SOCKET` set, the agent says `MAINPID`/`READY=1` once it serves; SIGHUP starts a
 * successor that takes the listeners over and says `MAINPID=<its pid>`; the old process drains
 * and exits 0; meshed traffic flows through the successor, and none was refused meanwhile.
 */
import t from 'tap';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { endianness } from 'node:os';
import { REPO_ROOT, defaultAgentCommand, withLab, type LabTopology } from '../../../src/lab/index.js';
import { libc, type MsgHdr } from '../../../src/ops/libc.js';
import { requireNamespaces } from '../helpers/require-root.js';

const SERVER = join(REPO_ROOT, 'dist/test/e2e/helpers/tcp-server.js');
const LOAD = join(REPO_ROOT, 'dist/test/e2e/helpers/upgrade-load.js');

const topology: LabTopology = {
  name: `rl${process.pid % 100000}`,
  nodes: [{ name: 'node1' }],
  namespaces: [{ name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
    { name: 'server', namespace: 'demo', node: 'node1', serviceAccount: 'server', labels: { app: 'server' } },
  ],
  services: [{ name: 'echo', namespace: 'demo', selector: { app: 'server' }, ports: [{ name: 'tcp', port: 80, targetPort: 8080, appProtocol: 'tcp' }] }],
};

/** A unix datagram socket standing in for systemd's notify socket. */
function notifySocket(path: string): number {
  const c = libc();
  const fd = c.socket(1, 2 | 0o4000 | 0o2000000, 0); // AF_UNIX, SOCK_DGRAM | NONBLOCK | CLOEXEC
  const addr = Buffer.alloc(110);
  if (endianness() === 'LE') addr.writeUInt16LE(1, 0);
  else addr.writeUInt16BE(1, 0);
  addr.write(path, 2);
  if (fd < 0 || c.bind(fd, addr, addr.length) !== 0) throw new Error('cannot bind the notify socket');
  return fd;
}

/** Datagrams received so far (non-blocking). */
function drain(fd: number): string[] {
  const out: string[] = [];
  for (;;) {
    const data = Buffer.alloc(4096);
    const msg: MsgHdr = { msg_name: null, msg_namelen: 0, msg_iov: [{ iov_base: data, iov_len: data.length }], msg_iovlen: 1, msg_control: null, msg_controllen: 0, msg_flags: 0 };
    const n = Number(libc().recvmsg(fd, msg, 0));
    if (n <= 0) return out;
    out.push(data.subarray(0, n).toString());
  }
}

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = fn();
    if (v !== undefined) return v;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

t.test('SIGHUP (systemctl reload): a successor takes over, tells systemd, the old agent drains and exits', async (t) => {
  if (!requireNamespaces(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-notify-'));
  const notifyPath = join(dir, 'notify.sock');
  const fd = notifySocket(notifyPath);
  t.teardown(() => libc().close(fd));
  const got: string[] = [];
  let successor: number | undefined;
  t.teardown(() => {
    if (successor !== undefined) {
      try {
        process.kill(successor, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  await withLab(
    topology,
    {
      agentCommand: (node, ctx) => {
        const base = defaultAgentCommand(node, ctx);
        return { command: 'env', args: [`NOTIFY_SOCKET=${notifyPath}`, base.command, ...base.args, '--drain-seconds', '5'] };
      },
    },
    async (lab) => {
      const server = lab.spawnNode('server', SERVER, ['--port', '8080', '--mode', 'echo']);
      await once(server.stdout!, 'data');
      const vip = lab.serviceVip('demo', 'echo');
      const old = lab.agentPid('node1') as number;
      const first = await waitFor('READY=1 of the first agent', () => (got.push(...drain(fd)), got.find((m) => m.includes('READY=1'))));
      t.equal(first, `MAINPID=${old}\nREADY=1`, 'the first agent tells systemd it serves');

      const load = lab.spawnNode('client', LOAD, ['--host', vip, '--mode', 'short', '--max', '100000', '--duration-ms', '8000']);
      let out = '';
      load.stdout?.on('data', (c: Buffer) => (out += c.toString()));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      process.kill(old, 'SIGHUP');
      const second = await waitFor('MAINPID of the successor', () => (got.push(...drain(fd)), got.find((m) => m.startsWith('MAINPID=') && m !== first)));
      successor = Number(/^MAINPID=(\d+)/.exec(second)?.[1]);
      t.not(successor, old, 'the successor names itself the main process');
      t.match(second, /READY=1/);
      await waitFor('the old agent to exit', () => {
        try {
          process.kill(old, 0);
          return undefined;
        } catch {
          return true;
        }
      });
      await once(load, 'exit');
      const r = JSON.parse(out.trim()) as { opened: number; ok: number; refused: number; reset: number; failed: number; errors: string[] };
      t.ok(r.opened > 0, `connections opened across the reload (${r.opened})`);
      t.equal(r.refused, 0, 'zero refused');
      t.equal(r.reset, 0, 'zero reset');
      t.equal(r.failed, 0, 'zero failed');
      t.same(r.errors, []);
      const log = lab.agentLog('node1');
      t.match(log, /SIGHUP: started a successor agent/);
      t.match(log, /took the listening sockets over/);
      t.match(log, new RegExp(`"pid":${old},[^\\n]*"handedOver":true[^\\n]*"msg":"drained"`), 'the old agent drained after handing over');
      try {
        process.kill(successor, 'SIGTERM');
      } catch {
        // gone
      }
      await waitFor('the successor to exit', () => {
        try {
          process.kill(successor as number, 0);
          return undefined;
        } catch {
          return true;
        }
      }, 30_000);
    },
  );
});
