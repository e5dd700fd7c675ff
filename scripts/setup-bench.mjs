#!/usr/bin/env node
// Makes sure the tools `npm run bench` (and its CI smoke test) runs are present: HAProxy (the
// proxy meshlet is compared with, and the HTTP origin), iperf3 (bulk throughput), sockperf
// (latency at fixed rates), wrk (HTTP and connection rate), h2load (HTTP/2 and fixed-rate HTTP
// in the L7 scenarios), rsvg-convert (the PNG chart), tcpdump (`--added-time`, on in --smoke).
// As root on Debian it installs what is missing with apt-get; otherwise it says exactly what
// to install. Plain JavaScript with no dependencies: it runs before the build.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian package providing each command the bench calls (ip, iptables: setup-host.mjs). */
const TOOLS = {
  haproxy: 'haproxy',
  iperf3: 'iperf3',
  sockperf: 'sockperf',
  wrk: 'wrk',
  h2load: 'nghttp2-client',
  'rsvg-convert': 'librsvg2-bin',
  chrt: 'util-linux',
  ss: 'iproute2',
  tcpdump: 'tcpdump',
};
/** rsvg-convert draws the chart's text with this font; without any font the labels are blank. */
const FONT = { file: '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', pkg: 'fonts-dejavu-core' };

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function missingPackages() {
  const cmds = Object.keys(TOOLS).filter((cmd) => !has(cmd));
  const pkgs = new Set(cmds.map((cmd) => TOOLS[cmd]));
  if (!existsSync(FONT.file)) pkgs.add(FONT.pkg);
  return { cmds, pkgs: [...pkgs] };
}

const { cmds, pkgs } = missingPackages();
if (pkgs.length === 0) process.exit(0);

const what = [...cmds, ...(existsSync(FONT.file) ? [] : ['a font (DejaVu)'])].join(', ');
const isRoot = process.getuid?.() === 0;
const hasApt = has('apt-get');
if (!isRoot || !hasApt) {
  const how = hasApt ? `sudo apt-get update && sudo apt-get install -y ${pkgs.join(' ')}` : `install the packages providing: ${what} (Debian: ${pkgs.join(' ')})`;
  console.error(`meshlet bench setup: missing: ${what}.`);
  console.error(`meshlet bench setup: npm run bench and its smoke test need them; run: ${how}`);
  // Everything else still works; the bench and its smoke test then say what is missing.
  process.exit(0);
}

console.error(`meshlet bench setup: installing ${pkgs.join(' ')} with apt-get (missing: ${what})`);
if (pkgs.includes('haproxy')) {
  console.error('meshlet bench setup: note: on a systemd host Debian also enables the haproxy service with its default,');
  console.error('  listener-less config; the bench runs its own HAProxy processes inside lab namespaces and never uses it');
  console.error('  (systemctl disable --now haproxy removes it).');
}
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
try {
  execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 300_000 });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
    timeout: 600_000,
  });
} catch (err) {
  console.error(`meshlet bench setup: apt-get failed (${err.message}); install by hand: apt-get install -y ${pkgs.join(' ')}`);
  process.exit(1);
}
const still = missingPackages();
if (still.pkgs.length > 0) {
  console.error(`meshlet bench setup: still missing after install: ${still.pkgs.join(', ')}`);
  process.exit(1);
}
