/**
 * `meshlet version` against a real agent in-process (its admin API, `/version`) and a real
 * controller (its debug port), through commander with a captured io; `--client` asks nobody,
 * and a component that does not answer is named with exit 1.
 */
import { Command, CommanderError } from 'commander';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import t from 'tap';
import type { AdminIo } from '../../../src/cli/admin-client.js';
import { registerVersionCommand, type VersionView } from '../../../src/cli/version-command.js';
import { createJoinToken } from '../../../src/controller/auth/join-token-edit.js';
import { loadControllerConfig } from '../../../src/controller/config.js';
import { Controller } from '../../../src/controller/controller.js';
import { PACKAGE_VERSION } from '../../../src/ops/package-version.js';
import { adminRig } from '../agent/admin-rig.js';

const FIXTURE = fileURLToPath(new URL('../../../../test/fixtures/mesh/two-node/', import.meta.url));

async function meshlet(...args: string[]): Promise<{ stdout: string; stderr: string; code: number | undefined }> {
  let stdout = '';
  let stderr = '';
  let code: number | undefined;
  const io: AdminIo = { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), exit: (c) => (code = c) };
  const program = new Command('meshlet').exitOverride();
  registerVersionCommand(program, io);
  try {
    await program.parseAsync(['node', 'meshlet', ...args]);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
  }
  return { stdout, stderr, code };
}

t.test('version: the client, the node\'s agent and the controller', async (t) => {
  const rig = await adminRig(t);
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-version-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(FIXTURE, join(dir, 'registry'), { recursive: true });
  await createJoinToken(join(dir, 'tokens.yaml'), { node: 'node-a' });
  const config = loadControllerConfig({ registry: join(dir, 'registry'), joinTokens: join(dir, 'tokens.yaml'), listen: '127.0.0.1:0', metricsPort: '0', debugPort: '0', stateDir: join(dir, 'state') }, {});
  const controller = new Controller(config, pino({ level: 'silent' }));
  await controller.start();
  t.teardown(() => controller.close());
  const flags = ['--admin', rig.admin, '--admin-token-file', rig.tokenFile, '--controller', `127.0.0.1:${controller.debugBound?.port ?? 0}`];

  const json = await meshlet('version', ...flags, '-o', 'json');
  t.equal(json.code, 0, json.stderr);
  const view = JSON.parse(json.stdout) as VersionView;
  t.same(view.client, { version: PACKAGE_VERSION, runtime: process.version });
  t.same(view.agent, { version: PACKAGE_VERSION, runtime: process.version, node: 'node1' }, 'the agent says its version, runtime and node');
  t.same(view.controller, { version: PACKAGE_VERSION }, 'the controller says its version');

  const text = await meshlet('version', ...flags);
  t.equal(text.code, 0);
  t.match(text.stdout, new RegExp(`^client +${PACKAGE_VERSION.replaceAll('.', '\\.')} \\(Node\\.js v`, 'm'));
  t.match(text.stdout, /^agent +\S+ \(node node1, Node\.js v/m);
  t.match(text.stdout, /^controller +\S+$/m);

  const client = await meshlet('version', '--client', '--admin', '127.0.0.1:1');
  t.equal(client.code, 0, '--client asks nobody');
  t.notMatch(client.stdout, /agent|controller/);
});

t.test('version: a component that does not answer is named, exit 1', async (t) => {
  const rig = await adminRig(t);
  const r = await meshlet('version', '--admin', rig.admin, '--admin-token-file', rig.tokenFile, '--controller', '127.0.0.1:1');
  t.equal(r.code, 1);
  t.match(r.stdout, /^agent +\S+/m, 'the agent still answers');
  t.match(r.stdout, /^controller +not reachable: the controller's debug port 127\.0\.0\.1:1 did not answer/m);
});
