#!/usr/bin/env node
// Makes sure the host tools meshlet's lab, demo, namespace and browser tests need are present.
// As root on Debian it installs what is missing with apt-get; otherwise it says exactly what
// to install. Runs before the build, so it is plain JavaScript with no dependencies.
import { execFileSync, spawnSync } from 'node:child_process';

/** Debian package providing each command the lab and tests call. */
const TOOLS = {
  ip: 'iproute2',
  iptables: 'iptables',
  'iptables-save': 'iptables',
  'iptables-restore': 'iptables',
  ip6tables: 'iptables',
  'ip6tables-restore': 'iptables',
  tcpdump: 'tcpdump',
  // The web page's browser test (test/e2e/admin/web-ui.test.ts) drives headless Chromium.
  chromium: 'chromium',
  // The completion scripts' test (test/unit/cli/completion-command.test.ts) runs them in each shell.
  zsh: 'zsh',
  fish: 'fish',
};

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const missing = Object.keys(TOOLS).filter((cmd) => !has(cmd));
if (missing.length === 0) process.exit(0);

const packages = [...new Set(missing.map((cmd) => TOOLS[cmd]))];
const isRoot = process.getuid?.() === 0;
const hasApt = has('apt-get');
if (!isRoot || !hasApt) {
  const how = hasApt ? `sudo apt-get update && sudo apt-get install -y ${packages.join(' ')}` : `install the packages providing: ${missing.join(', ')} (Debian: ${packages.join(' ')})`;
  console.error(`meshlet setup: missing host tools: ${missing.join(', ')}.`);
  console.error(`meshlet setup: the lab, the demo and the namespace tests need them; run: ${how}`);
  // Unit tests still run without them; namespace tests then report loudly that they cannot.
  process.exit(0);
}

console.error(`meshlet setup: installing ${packages.join(' ')} with apt-get (missing: ${missing.join(', ')})`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
try {
  execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
} catch (err) {
  console.error(`meshlet setup: apt-get failed (${err.message}); install by hand: apt-get install -y ${packages.join(' ')}`);
  process.exit(1);
}
const still = Object.keys(TOOLS).filter((cmd) => !has(cmd));
if (still.length > 0) {
  console.error(`meshlet setup: still missing after install: ${still.join(', ')}`);
  process.exit(1);
}
