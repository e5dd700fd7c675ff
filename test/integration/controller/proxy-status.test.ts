/**
 * `meshlet proxy-status` against a real controller (YAML registry, in-process) on its debug
 * port: one agent that acknowledges its snapshot (SYNCED), one that refuses it (NACKED with the
 * agent's reason, exit 1), and one that left (DISCONNECTED); the debug port binds loopback only.
 */
import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { ControllerClient } from '../../../src/agent/control/client.js';
import { createJoinToken } from '../../../src/controller/auth/join-token-edit.js';
import { loadControllerConfig } from '../../../src/controller/config.js';
import { Controller } from '../../../src/controller/controller.js';
import type { ProxyStatusView } from '../../../src/controller/proxy-status.js';
import { proxyStatus } from '../../../src/cli/proxy-status-command.js';
import { PACKAGE_VERSION } from '../../../src/ops/package-version.js';
import { waitFor } from '../../helpers/wait-for.js';

const FIXTURE = fileURLToPath(new URL('../../../../test/fixtures/mesh/two-node/', import.meta.url));
const logger = pino({ level: 'silent' });

function recordingIo(): { io: { stdout: (s: string) => void; stderr: (s: string) => void; exit: (c: number) => void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (s) => out.push(s), stderr: (s) => err.push(s), exit: () => undefined }, out, err };
}

t.test('proxy-status: a synced agent, a NACKing one with its reason, one that left', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-proxy-status-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const registry = join(dir, 'registry');
  cpSync(FIXTURE, registry, { recursive: true });
  const tokens = join(dir, 'join-tokens.yaml');
  const a = await createJoinToken(tokens, { node: 'node-a' });
  const b = await createJoinToken(tokens, { node: 'node-b' });
  const c = await createJoinToken(tokens, { node: 'node-c' });
  const config = loadControllerConfig({ registry, joinTokens: tokens, listen: '127.0.0.1:0', metricsPort: '0', debugPort: '0', stateDir: join(dir, 'state'), debounceMs: '20' }, {});
  const controller = new Controller(config, logger);
  const bound = await controller.start();
  t.teardown(() => controller.close());
  const debug = controller.debugBound;
  t.equal(debug?.host, '127.0.0.1', 'the debug port binds loopback only');
  const caPem = readFileSync(join(dir, 'state', 'ca', 'ca.crt'), 'utf8');
  const agent = (node: string, token: string, refuse: boolean): ControllerClient => {
    const client = new ControllerClient({
      address: `127.0.0.1:${bound.port}`,
      caPem,
      node,
      credentials: async () => token,
      trustDomain: 'cluster.local',
      logger,
      onSnapshot: async () => {
        if (refuse) throw new Error('capture rules could not be applied: iptables-restore exited 4');
      },
    });
    client.start();
    t.teardown(() => client.close());
    return client;
  };
  agent('node-a', a.token, false);
  agent('node-b', b.token, true);
  const leaving = agent('node-c', c.token, false);
  await waitFor('all three answered', () => {
    const rows = controller.proxyStatus().agents;
    return rows.length === 3 && rows.every((r) => r.acks + r.nacks > 0);
  });
  await leaving.close();
  await waitFor('node-c gone', () => controller.proxyStatus().agents.find((r) => r.node === 'node-c')?.connected === false);

  const address = `127.0.0.1:${debug?.port ?? 0}`;
  const json = recordingIo();
  const code = await proxyStatus(json.io, { controller: address, output: 'json' });
  t.equal(code, 1, 'exit 1: an agent refused its snapshot');
  const view = JSON.parse(json.out.join('')) as ProxyStatusView;
  const version = view.controller.version;
  t.type(version, 'string', 'the controller says its version in force');
  t.equal(view.controller.role, 'single');
  t.same(view.agents.map((r) => [r.node, r.state]), [['node-a', 'SYNCED'], ['node-b', 'NACKED'], ['node-c', 'DISCONNECTED']]);
  const [synced, nacked] = view.agents;
  t.equal(synced?.ackedVersion, version, 'SYNCED: acknowledged the version in force');
  t.equal(synced?.agentVersion, PACKAGE_VERSION, 'the version the agent said in its Hello');
  t.type(synced?.connectedSince, 'string');
  t.equal(nacked?.nackedVersion, version, 'NACKED: the version it refused');
  t.match(nacked?.nackReason, /iptables-restore exited 4/, 'with the agent\'s reason');
  t.strictSame([synced?.snapshotsSent, synced?.deltas, synced?.fullSnapshots, synced?.resyncs], [1, 0, 1, 0], 'its one push: a full snapshot, no resync');

  const text = recordingIo();
  t.equal(await proxyStatus(text.io, { controller: address, output: 'text' }), 1);
  const printed = text.out.join('');
  t.match(printed, new RegExp(`controller: single, state version ${version}`));
  t.match(printed, /NODE\s+STATE\s+AGENT\s+SENT\s+ACKED\s+DELTAS\s+FULL\s+RESYNCS\s+CONNECTED SINCE/);
  t.match(printed, /node-a\s+SYNCED\s+\S+\s+\S+\s+\S+\s+0\s+1\s+0\s/, 'node-a: 0 deltas, 1 full snapshot, 0 resyncs');
  t.match(printed, /node-b\s+NACKED/);
  t.match(printed, new RegExp(`^node-b refused version ${version}: the agent could not apply it: capture rules could not be applied: iptables-restore exited 4$`, 'm'), 'the whole reason, on a line of its own');
  t.match(printed, /node-c\s+DISCONNECTED/);

  t.equal((await fetch(`http://${address}/debug/elsewhere`)).status, 404);
  t.equal((await fetch(`http://${address}/debug/proxy-status`, { method: 'POST' })).status, 405);
});

t.test('proxy-status: a bad address is a usage error; a closed port says how to reach the controller', async (t) => {
  const bad = recordingIo();
  await t.rejects(proxyStatus(bad.io, { controller: 'ftp://x:1', output: 'text' }), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /--controller "ftp:\/\/x:1"/ });
  const closed = recordingIo();
  await t.rejects(proxyStatus(closed.io, { controller: '127.0.0.1:1', output: 'text' }), { code: 'MESHLET_ERR_ADMIN_UNREACHABLE', message: /port-forward deploy\/meshlet-controller 15013/ });
});
