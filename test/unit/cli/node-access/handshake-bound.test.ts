/**
 * `--node`'s websockets (exec, port-forward) against an API server that accepts the connection
 * and never answers the upgrade: with the bound (`boundWebSocketHandshake`) client-node's Exec
 * fails within it instead of holding the command until TCP gives up; the kubeconfig the CLI
 * builds carries the bound.
 */
import t from 'tap';
import net, { type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Exec, KubeConfig } from '@kubernetes/client-node';
import { boundWebSocketHandshake, cliKubeConfig, WEBSOCKET_HANDSHAKE_TIMEOUT_MS } from '../../../../src/cli/kube-config.js';

/** A TCP server that reads the upgrade request and never answers it. */
async function silentApi(t: { teardown(fn: () => void): void }): Promise<{ port: number; requests: () => number }> {
  const held: Socket[] = [];
  let requests = 0;
  const server = net.createServer((s) => {
    held.push(s);
    s.on('error', () => undefined);
    s.once('data', () => (requests += 1));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of held) s.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, requests: () => requests };
}

function kubeConfigFor(port: number): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'x' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

const sink = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });

t.test('an exec whose upgrade is never answered fails within the bound', async (t) => {
  const api = await silentApi(t);
  const kc = boundWebSocketHandshake(kubeConfigFor(api.port), 300);
  const started = performance.now();
  const result = await new Exec(kc).exec('meshlet-system', 'agent-x', 'agent', ['cat', '/run/meshlet/admin-token'], sink(), sink(), null, false).then(
    () => 'opened',
    (err: Error) => err.message,
  );
  const elapsed = performance.now() - started;
  t.equal(api.requests(), 1, 'the upgrade request reached the server');
  t.match(result, /handshake has timed out/i, 'the exec failed with the handshake timeout');
  t.ok(elapsed < 10_000, `well before TCP would give up (${Math.round(elapsed)} ms)`);
});

t.test('the kubeconfig of a CLI command bounds its websockets; other options are kept', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-kc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'config');
  writeFileSync(file, kubeConfigFor(6443).exportConfig());
  const kc = cliKubeConfig({ kubeconfig: file });
  const opts: Record<string, unknown> = {};
  await kc.applyToHTTPSOptions(opts);
  t.equal(opts['handshakeTimeout'], WEBSOCKET_HANDSHAKE_TIMEOUT_MS);
  t.equal(WEBSOCKET_HANDSHAKE_TIMEOUT_MS, 15_000);
  t.match(opts['headers'], { Authorization: 'Bearer x' }, 'the credentials are still applied');
});
