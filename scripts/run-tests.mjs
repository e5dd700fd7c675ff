#!/usr/bin/env node
// Runs the test suites with tap and ends with one plain line "N passed, N failed", so a run
// that executed nothing is visible. Unit and integration tests run in parallel; namespace (e2e)
// tests run one file at a time because they share the host's kernel and its 2 cores.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// timeout: seconds a test file may run (tap's --timeout). A namespace test file starts real
// agents again and again; on a loaded shared CI machine one took over 180 s.
const suites = [
  { name: 'unit+integration', dirs: ['dist/test/unit', 'dist/test/integration'], jobs: 2, timeout: 180 },
  { name: 'e2e (network namespaces)', dirs: ['dist/test/e2e'], jobs: 1, timeout: 600 },
];

function findTests(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (entry.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

// Pass a path filter through: `npm test -- dist/test/unit/iptables`.
const filters = process.argv.slice(2);

/** Failures kept for the recap printed before the last line (a CI log is often read from its end). */
const MAX_RECAPPED = 10;
const MAX_DETAIL_LINES = 25;

/**
 * Follows tap's output line by line: the subtest path of every `not ok` that is not a TODO or
 * a SKIP, with the diagnostic lines (YAML) under the innermost ones.
 */
class FailureTracker {
  constructor() {
    this.path = []; // [{ indent, name }]
    this.failures = []; // [{ where, detail: [] }]
    this.open = undefined; // the failure whose diagnostic lines are being read
  }

  line(line) {
    const indent = line.length - line.trimStart().length;
    if (this.open !== undefined) {
      if (indent > this.open.indent && this.open.detail.length < MAX_DETAIL_LINES) {
        this.open.detail.push(line.slice(this.open.indent));
        return;
      }
      if (indent <= this.open.indent) this.open = undefined;
    }
    const sub = /^\s*# Subtest: (.*)$/.exec(line);
    if (sub !== null) {
      while (this.path.length > 0 && this.path[this.path.length - 1].indent >= indent) this.path.pop();
      this.path.push({ indent, name: sub[1] });
      return;
    }
    const fail = /^\s*not ok \d+ - (.*)$/.exec(line);
    if (fail === null) return;
    if (/# (TODO|SKIP)\b/i.test(fail[1])) return;
    // The subtests enclosing this line are those opened at a smaller indent.
    const where = this.path.filter((p) => p.indent < indent).map((p) => p.name);
    // A parent's `not ok` repeats its child's failure: keep the innermost only.
    const full = [...where, fail[1]].join(' > ');
    if (this.failures.some((f) => f.where.startsWith(full.replace(/ # time=.*$/, '')))) return;
    const entry = { where: full, detail: [], indent };
    this.failures.push(entry);
    this.open = entry;
  }
}

function runTap(files, jobs, timeout, tracker) {
  return new Promise((resolve) => {
    const args = ['tap', '--reporter=tap', `--jobs=${jobs}`, `--timeout=${timeout}`, ...files];
    const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let summary = null;
    let buf = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      buf += chunk.toString('utf8');
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        tracker.line(line);
        const m = /^# \{ (total: .*) \}$/.exec(line);
        if (m) summary = Object.fromEntries(m[1].split(', ').map((kv) => kv.split(': ')).map(([k, v]) => [k, Number(v)]));
      }
    });
    child.on('close', (code) => resolve({ code, summary }));
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/**
 * Removes what killed earlier runs left behind: labs whose owner is gone (not detached ones),
 * and namespace-test namespaces `mlt-<what>-<pid>[-<n>]` whose pid is gone.
 */
function cleanStale() {
  if (process.getuid?.() !== 0) return;
  spawnSync(process.execPath, ['dist/src/cli/main.js', 'lab', 'down', '--stale'], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 60_000 });
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const name of list.split('\n').map((l) => l.split(' ')[0])) {
    const m = /^mlt-[a-z0-9]+-(\d+)(?:-\d+)?$/.exec(name ?? '');
    if (m === null || alive(Number(m[1]))) continue;
    const pids = (spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    spawnSync('ip', ['netns', 'del', name]);
    console.log(`# removed stale test namespace ${name}`);
  }
}

// tap builds its Test class for the plugins package.json names ("!@tapjs/typescript"), but a
// run that finds the build stale (a fresh `npm ci`) rebuilds it and still starts every test
// file of that run with the loaders of the old build: the TypeScript loader, about 1 s of CPU
// per file, in the whole first suite. Building first makes every suite start as configured.
const built = spawnSync('npx', ['tap', 'build'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
if (built.status !== 0) console.log(`# tap build failed (exit ${built.status}): the first suite may run with tap's default loaders`);

let passed = 0;
let failed = 0;
let skipped = 0;
let exit = 0;
const tracker = new FailureTracker();
for (const suite of suites) {
  let files = suite.dirs.flatMap(findTests);
  if (filters.length > 0) files = files.filter((f) => filters.some((x) => f.includes(x)));
  if (files.length === 0) continue;
  if (suite.name.startsWith('e2e')) cleanStale();
  console.log(`# suite: ${suite.name} (${files.length} files)`);
  const { code, summary } = await runTap(files, suite.jobs, suite.timeout, tracker);
  if (summary === null) {
    console.log(`# suite ${suite.name}: tap printed no summary (exit ${code})`);
    failed += 1;
    exit = 1;
    continue;
  }
  passed += summary.pass ?? 0;
  failed += summary.fail ?? 0;
  skipped += (summary.skip ?? 0) + (summary.todo ?? 0);
  if (code !== 0) exit = 1;
}
if (tracker.failures.length > 0) {
  console.log(`# failed (${tracker.failures.length}${tracker.failures.length > MAX_RECAPPED ? `, the first ${MAX_RECAPPED}` : ''}):`);
  for (const f of tracker.failures.slice(0, MAX_RECAPPED)) {
    console.log(`#   ${f.where}`);
    for (const d of f.detail) console.log(`#       ${d.trimEnd()}`);
  }
}
if (skipped > 0) console.log(`# ${skipped} skipped`);
console.log(`${passed} passed, ${failed} failed`);
if (passed === 0) exit = 1;
process.exit(failed > 0 ? 1 : exit);
