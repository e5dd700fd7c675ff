/**
 * scripts/meshlet-join.sh, run with --root (a scratch directory) and --no-start: the files it
 * installs, their modes, an environment the agent accepts, and refusals that list every
 * problem at once.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { parseEnvFile, readRepoFile, REPO } from './install-files.js';

const SCRIPT = join(REPO, 'scripts/meshlet-join.sh');
const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

interface Result { code: number; stdout: string; stderr: string }
function runJoin(args: readonly string[], stdin = ''): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile('sh', [SCRIPT, ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
    // The script may exit before it reads its input (a refusal): an EPIPE there is no failure.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdin);
  });
}

function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-join-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ca.crt'), CA_PEM);
  writeFileSync(join(dir, 'token'), 'mjt_node-b.s3cr3t\n');
  return dir;
}

t.test('installs the unit, the root, the token (0600) and an environment the agent accepts', async (t) => {
  const dir = scratch(t);
  const root = join(dir, 'root');
  const r = await runJoin(['--controller', 'controller.example.internal:15012', '--ca', join(dir, 'ca.crt'), '--token-file', join(dir, 'token'), '--node', 'node-b', '--root', root, '--no-start']);
  t.equal(r.code, 0, r.stderr);
  t.equal(readFileSync(join(root, 'etc/systemd/system/meshlet-agent.service'), 'utf8'), readRepoFile('systemd/meshlet-agent.service'));
  t.equal(readFileSync(join(root, 'etc/meshlet/ca.crt'), 'utf8'), CA_PEM);
  t.equal(readFileSync(join(root, 'etc/meshlet/join-token'), 'utf8'), 'mjt_node-b.s3cr3t\n');
  t.equal(statSync(join(root, 'etc/meshlet/join-token')).mode & 0o777, 0o600);
  const env = parseEnvFile(readFileSync(join(root, 'etc/meshlet/agent.env'), 'utf8'));
  const config = loadAgentConfig({}, env);
  t.match(config, { node: 'node-b', controller: { address: 'controller.example.internal:15012', caFile: '/etc/meshlet/ca.crt', token: { kind: 'join-token' } } });
  t.same(Object.keys(env).sort(), Object.keys(parseEnvFile(readRepoFile('systemd/agent.env'))).sort(), 'the same settings as systemd/agent.env');
});

t.test('reads the token from stdin with --token-file -', async (t) => {
  const dir = scratch(t);
  const root = join(dir, 'root');
  const r = await runJoin(['--controller', '192.0.2.10:15012', '--ca', join(dir, 'ca.crt'), '--token-file', '-', '--node', 'vm-1', '--failure-mode', 'open', '--root', root, '--no-start'], 'tok-from-stdin\n');
  t.equal(r.code, 0, r.stderr);
  t.equal(readFileSync(join(root, 'etc/meshlet/join-token'), 'utf8'), 'tok-from-stdin\n');
  t.equal(parseEnvFile(readFileSync(join(root, 'etc/meshlet/agent.env'), 'utf8'))['MESHLET_FAILURE_MODE'], 'open');
});

t.test('refuses bad input with exit 64, naming every problem, installing nothing', async (t) => {
  const dir = scratch(t);
  const root = join(dir, 'root');
  const r = await runJoin(['--controller', 'no-port', '--ca', join(dir, 'missing.crt'), '--failure-mode', 'sometimes', '--node', 'Node_B', '--root', root, '--no-start']);
  t.equal(r.code, 64);
  for (const m of [/--controller must be host:port/, /--ca: cannot read/, /--token-file is required/, /--failure-mode must be closed or open/, /--node must be a DNS subdomain/]) t.match(r.stderr, m);
  t.throws(() => statSync(root), 'nothing installed');
});

t.test('refuses a CA file holding a private key', async (t) => {
  const dir = scratch(t);
  writeFileSync(join(dir, 'bundle.pem'), `${CA_PEM}-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n`);
  const r = await runJoin(['--controller', 'c:15012', '--ca', join(dir, 'bundle.pem'), '--token-file', join(dir, 'token'), '--node', 'n', '--root', join(dir, 'root'), '--no-start']);
  t.equal(r.code, 64);
  t.match(r.stderr, /holds a private key/);
});
