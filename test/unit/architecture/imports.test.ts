/**
 * Keeps the source layout honest (house style: "cut by feature, one model in the middle"):
 * - no import cycles anywhere in src/ (what grpc-js checks with `madge -c`);
 * - src/mesh is pure: it imports nothing outside itself and no I/O module of Node;
 * - the agent never imports the controller, the CA, the lab or the CLI (it is given a signer
 *   and capture rules through interfaces), and the controller never imports the agent: they
 *   share only mesh and the generated proto types; iptables, ca and lab import only mesh.
 */
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../../../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return e.endsWith('.ts') ? [p] : [];
  });
}

/** Import specifiers of a file, type-only imports included (they are still coupling). */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) out.push(m[1] as string);
  for (const m of text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) out.push(m[1] as string);
  for (const m of text.matchAll(/await import\(['"]([^'"]+)['"]\)/g)) out.push(m[1] as string);
  return out;
}

const files = sourceFiles(SRC);
const graph = new Map<string, string[]>();
const external = new Map<string, string[]>();
for (const f of files) {
  const specs = imports(f);
  graph.set(
    f,
    specs.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(f), s.replace(/\.js$/, '.ts'))),
  );
  external.set(f, specs.filter((s) => !s.startsWith('.')));
}
const area = (f: string): string => relative(SRC, f).split('/')[0] as string;

t.test('the import graph has files to check', async (t) => {
  t.ok(files.length > 30, `${files.length} source files`);
});

t.test('no import cycles', async (t) => {
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'visiting') {
      cycles.push([...path.slice(path.indexOf(f)), f].map((x) => relative(SRC, x)).join(' -> '));
      return;
    }
    state.set(f, 'visiting');
    for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of files) visit(f, []);
  t.same(cycles, [], 'no cycles');
});

const ALLOWED: Record<string, readonly string[]> = {
  mesh: ['mesh'],
  // Generated gRPC types: the API's shape, shared by both ends.
  proto: ['proto'],
  // Listener plumbing both daemons need (they may not import each other).
  ops: ['ops'],
  agent: ['agent', 'mesh', 'proto', 'ops'],
  // The controller never imports the agent: they share only mesh and proto.
  controller: ['controller', 'mesh', 'ca', 'proto', 'ops'],
  iptables: ['iptables', 'mesh'],
  ca: ['ca', 'mesh', 'ops'],
  lab: ['lab', 'mesh'],
  cli: ['cli', 'agent', 'controller', 'iptables', 'ca', 'lab', 'mesh', 'proto', 'ops'],
};

t.test('dependencies point one way', async (t) => {
  const bad: string[] = [];
  for (const [f, deps] of graph) {
    const from = area(f);
    const allowed = ALLOWED[from];
    if (allowed === undefined) {
      bad.push(`${relative(SRC, f)}: unknown area ${from} (add it to this test)`);
      continue;
    }
    for (const d of deps) if (!allowed.includes(area(d))) bad.push(`${relative(SRC, f)} imports ${relative(SRC, d)}`);
  }
  t.same(bad, [], 'every import goes the allowed way');
});

t.test('src/mesh does no I/O', async (t) => {
  const IO = /^(node:)?(fs|fs\/promises|net|tls|http|http2|https|dgram|child_process|process|os|dns|cluster|worker_threads)$/;
  const bad: string[] = [];
  for (const [f, specs] of external) {
    if (area(f) !== 'mesh') continue;
    const text = readFileSync(f, 'utf8');
    for (const s of specs) {
      if (!IO.test(s)) continue;
      // node:net's address parsers (isIP, isIPv4, isIPv6) are pure functions.
      const pureNet = /^(node:)?net$/.test(s) && new RegExp(`import\\s*\\{\\s*(isIP(v4|v6)?\\s*,?\\s*)+\\}\\s*from\\s*['"]${s}['"]`).test(text);
      if (!pureNet) bad.push(`${relative(SRC, f)} imports ${s}`);
    }
    if (/\bprocess\.(env|exit|stdout|stderr)\b/.test(text)) bad.push(`${relative(SRC, f)} touches process`);
  }
  t.same(bad, [], 'mesh is pure');
});

/** The folder of an agent file (`proxy`, `state`, ...), or '' for the entry and config. */
const agentFolder = (f: string): string => {
  const parts = relative(join(SRC, 'agent'), f).split('/');
  return parts.length > 1 ? (parts[0] as string) : '';
};

t.test('the agent lives in folders by role', async (t) => {
  const loose = files.filter((f) => area(f) === 'agent' && agentFolder(f) === '').map((f) => relative(SRC, f));
  t.same(loose.sort(), ['agent/agent.ts', 'agent/config.ts'], 'only the entry and its config sit outside a folder');
});

t.test("the agent's state/ and policy/ are pure decisions over data", async (t) => {
  const IO = /^(node:)?(fs|fs\/promises|net|tls|http|http2|https|dgram|child_process|process|os|dns|cluster|worker_threads|events|stream)$|^(koffi|pino|prom-client|undici|@grpc\/grpc-js|systeminformation)$/;
  const checked = files.filter((f) => area(f) === 'agent' && ['state', 'policy'].includes(agentFolder(f)));
  t.ok(checked.length >= 2, `${checked.length} files checked`);
  const bad: string[] = [];
  for (const f of checked) {
    for (const s of external.get(f) ?? []) if (IO.test(s)) bad.push(`${relative(SRC, f)} imports ${s}`);
    for (const d of graph.get(f) ?? []) {
      const ok = area(d) === 'mesh' || (area(d) === 'agent' && ['state', 'policy'].includes(agentFolder(d)));
      if (!ok) bad.push(`${relative(SRC, f)} imports ${relative(SRC, d)}`);
    }
    if (/\bprocess\.(env|exit|std\w+|pid|hrtime|nextTick|on)\b|\bset(Timeout|Interval|Immediate)\(|\bDate\.now\(|\bperformance\.now\(/.test(readFileSync(f, 'utf8'))) bad.push(`${relative(SRC, f)} touches the process or the clock`);
  }
  t.same(bad, [], 'state/ and policy/ import only mesh, state and policy, and do no I/O');
});

t.test("the agent's proxy/ and http/ never reach into control/ or workers/", async (t) => {
  const checked = files.filter((f) => area(f) === 'agent' && ['proxy', 'http'].includes(agentFolder(f)));
  t.ok(checked.length >= 10, `${checked.length} files checked`);
  const bad: string[] = [];
  for (const f of checked) {
    for (const d of graph.get(f) ?? []) {
      if (area(d) === 'agent' && ['control', 'workers'].includes(agentFolder(d))) bad.push(`${relative(SRC, f)} imports ${relative(SRC, d)}`);
    }
  }
  t.same(bad, [], 'the data path is given what it needs; it does not fetch it');
});
