/**
 * systemd/: both units pass `systemd-analyze verify`, carry the hardening and stop timeout the
 * install relies on, and their environment files are accepted by meshlet's config loaders.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { loadControllerConfig } from '../../../src/controller/config.js';
import { argsToFlags, parseEnvFile, readRepoFile, REPO } from './install-files.js';

const run = promisify(execFile);
const UNITS = ['meshlet-agent.service', 'meshlet-controller.service'];
const BINARY = '/usr/local/bin/meshlet';

/**
 * What `systemd-analyze verify` prints about `files`, minus the one complaint this host must
 * make: meshlet is not installed here, so its ExecStart binary does not exist.
 */
async function verify(files: readonly string[]): Promise<string[]> {
  let output: string;
  try {
    const r = await run('systemd-analyze', ['verify', ...files], { timeout: 30_000 });
    output = r.stdout + r.stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: unknown };
    if (e.code === 'ENOENT') throw new Error('systemd-analyze is not installed: apt-get install systemd');
    output = (e.stdout ?? '') + (e.stderr ?? '');
  }
  const missingBinary = `Command ${BINARY} is not executable: No such file or directory`;
  return output.split('\n').filter((l) => l.trim() !== '' && !(l.includes(missingBinary) && !existsSync(BINARY)));
}

/** `Key=value` settings of a unit file, each key's values in order. */
function unitSettings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m === null) continue;
    out.set(m[1] as string, [...(out.get(m[1] as string) ?? []), m[2] as string]);
  }
  return out;
}

t.test('systemd-analyze verify passes on both units', async (t) => {
  t.same(await verify(UNITS.map((u) => join(REPO, 'systemd', u))), []);
});

t.test('verify reports a broken unit (so a pass means something)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const broken = readRepoFile('systemd/meshlet-agent.service').replace('ProtectSystem=strict', 'ProtectSystem=sometimes').replace('PrivateTmp=yes', 'PrivateTemp=yes');
  writeFileSync(join(dir, 'meshlet-agent.service'), broken);
  const lines = await verify([join(dir, 'meshlet-agent.service')]);
  t.match(lines.join('\n'), /Failed to parse protect system value/);
  t.match(lines.join('\n'), /Unknown key 'PrivateTemp'/);
});

for (const unit of UNITS) {
  t.test(`${unit} is hardened and restarts on failure`, async (t) => {
    const s = unitSettings(readRepoFile(`systemd/${unit}`));
    for (const [key, value] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes'], ['Restart', 'on-failure']]) {
      t.same(s.get(key as string), [value], `${key}=${value}`);
    }
    t.ok(s.has('CapabilityBoundingSet'), 'a capability bounding set');
    t.ok(s.get('EnvironmentFile')?.[0]?.startsWith('/etc/meshlet/'), 'an environment file');
  });
}

t.test('the agent unit: two capabilities, its state directory, a stop timeout past the drain', async (t) => {
  const s = unitSettings(readRepoFile('systemd/meshlet-agent.service'));
  t.same(s.get('CapabilityBoundingSet'), ['CAP_NET_ADMIN CAP_NET_RAW']);
  t.match(s.get('ReadWritePaths')?.[0] ?? '', /(^| )\/var\/lib\/meshlet( |$)/);
  const env = { ...parseEnvFile(readRepoFile('systemd/agent.env')), MESHLET_NODE: 'vm-1', MESHLET_CONTROLLER: 'controller.example.internal:15012' };
  const config = loadAgentConfig({}, env);
  t.equal(config.stateDir, '/var/lib/meshlet');
  t.same(s.get('StateDirectory'), ['meshlet'], 'systemd makes /var/lib/meshlet (the persisted snapshot) and keeps it across restarts');
  t.same(s.get('StateDirectoryMode'), ['0700']);
  const stop = Number(/^(\d+)s$/.exec(s.get('TimeoutStopSec')?.[0] ?? '')?.[1]);
  t.ok(stop * 1000 >= config.drainDeadlineMs + 5000, `TimeoutStopSec ${stop} s >= drain ${config.drainDeadlineMs} ms + 5 s`);
  t.match(config.controller, { caFile: '/etc/meshlet/ca.crt', token: { kind: 'join-token', file: '/etc/meshlet/join-token' } });
  t.match(s.get('ExecStopPost')?.[0] ?? '', /MESHLET_FAILURE_MODE" = open .*meshlet iptables clean/, 'fail-open lifts the rules after a crash too');
});

t.test('the controller unit: no capability, its environment file accepted', async (t) => {
  const s = unitSettings(readRepoFile('systemd/meshlet-controller.service'));
  t.same(s.get('CapabilityBoundingSet'), ['']);
  t.same(s.get('ReadWritePaths'), ['/var/lib/meshlet-controller']);
  const env = parseEnvFile(readRepoFile('systemd/controller.env'));
  const opts = '--server-name controller.example.internal 192.0.2.10';
  const config = loadControllerConfig(argsToFlags(opts.split(' ')), env);
  t.match(config, { registry: { kind: 'directory', dir: '/etc/meshlet/registry' }, joinTokensFile: '/etc/meshlet/controller/join-tokens.yaml', stateDir: '/var/lib/meshlet-controller', listenPort: 15012 });
  t.same(config.serverNames, ['controller.example.internal', '192.0.2.10']);
});
