/**
 * Every read command in its three formats (docs/sre-cli.md, "Conventions"), through commander
 * with a captured io, against an agent in-process (its admin API), a controller with an agent
 * client (its debug port), a fake `/tap` stream on loopback, YAML directories, a lab record and
 * a join token file: `-o json` parses, `-o yaml` parses to the same value, and every fact the
 * JSON holds that the text is meant to show (names, counts, versions) is in the text. Then the
 * conventions themselves: an unknown format exits 64 naming the command and the formats, no
 * escape code through a pipe or with NO_COLOR/--no-color/TERM=dumb (and colours on a terminal),
 * a table fits a 40-column terminal and is never cut through a pipe.
 */
import { Command, CommanderError } from 'commander';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { ControllerClient } from '../../../src/agent/control/client.js';
import { registerAnalyzeCommand } from '../../../src/cli/analyze-command.js';
import { registerCheckCommand } from '../../../src/cli/check-command.js';
import { registerJoinTokenCommand } from '../../../src/cli/join-token-command.js';
import { registerLabCommand } from '../../../src/cli/lab-command.js';
import { registerLogLevelCommand } from '../../../src/cli/log-level-command.js';
import type { OutputIo, Terminal } from '../../../src/cli/output.js';
import { registerPolicyCommand } from '../../../src/cli/policy-command.js';
import { registerProxyConfigCommand } from '../../../src/cli/proxy-config-command.js';
import { registerProxyStatusCommand } from '../../../src/cli/proxy-status-command.js';
import { registerStatusCommand } from '../../../src/cli/status-command.js';
import { registerTapCommand } from '../../../src/cli/tap-command.js';
import { registerTopCommand } from '../../../src/cli/top-command.js';
import { registerVersionCommand } from '../../../src/cli/version-command.js';
import { createJoinToken } from '../../../src/controller/auth/join-token-edit.js';
import { loadControllerConfig } from '../../../src/controller/config.js';
import { Controller } from '../../../src/controller/controller.js';
import { defaultLabTopology } from '../../../src/lab/index.js';
import { waitFor } from '../../helpers/wait-for.js';
import { meshDirectory, meshSnapshot } from '../../unit/cli/policy-fixture.js';
import { adminRig } from '../agent/admin-rig.js';

const FIXTURE = fileURLToPath(new URL('../../../../test/fixtures/mesh/two-node/', import.meta.url));
const ESC = '\x1b';
const PIPE: Terminal = { isTTY: false, env: {} };
const tty = (columns: number, env: Record<string, string> = {}): Terminal => ({ isTTY: true, columns, env });

interface Run {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | undefined;
}

/** `meshlet ARGS...` with every read command registered, its stdout the terminal `term`; labs under `labBase`. */
async function meshlet(term: Terminal, labBase: string, args: readonly string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  let code: number | undefined;
  const io: OutputIo = { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), exit: (c) => (code = c), terminal: term };
  const program = new Command('meshlet').exitOverride();
  for (const register of [registerStatusCommand, registerProxyConfigCommand, registerLogLevelCommand, registerProxyStatusCommand, registerVersionCommand, registerCheckCommand, registerAnalyzeCommand, registerPolicyCommand, registerTapCommand, registerTopCommand, registerJoinTokenCommand]) {
    register(program, io);
  }
  registerLabCommand(program, { print: (l) => (stdout += `${l}\n`), printError: (l) => (stderr += `${l}\n`), setExitCode: (c) => (code = c), baseDir: labBase });
  try {
    await program.parseAsync(['node', 'meshlet', ...args]);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
  }
  return { stdout, stderr, code };
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const rows = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(obj) : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
/** Strings and numbers of `fields` in each row (absent ones skipped). */
const each = (list: unknown, ...fields: string[]): string[] => rows(list).flatMap((r) => fields.filter((f) => r[f] !== undefined && r[f] !== null && r[f] !== '').map((f) => str(r[f])));
/** A copy of `v` without the keys at `paths` (`a.b`): what differs from one run to the next. */
function without(v: unknown, ...paths: string[]): unknown {
  const copy = JSON.parse(JSON.stringify(v)) as unknown;
  for (const path of paths) {
    const keys = path.split('.');
    let at = copy as Obj | undefined;
    for (const k of keys.slice(0, -1)) at = at === undefined ? undefined : (at[k] as Obj | undefined);
    if (at !== undefined) delete at[keys[keys.length - 1] ?? ''];
  }
  return copy;
}

/** One read command: its arguments and the facts of its JSON that the text shows. */
interface Case {
  readonly name: string;
  readonly args: readonly string[];
  readonly facts: (json: unknown) => string[];
  /** What may differ between two runs (ages, memory, times), removed before json and yaml are compared. */
  readonly stable?: (json: unknown) => unknown;
  /** A stream: json is NDJSON, yaml one document per record. */
  readonly stream?: boolean;
  /** The whole text is one table (it is fitted to a 40-column terminal). */
  readonly table?: boolean;
}

/** `/tap` events as the agent sends them: a connection opened and closed, a request. */
const TAP_EVENTS: readonly Obj[] = [
  { type: 'connection.open', time: 1_796_000_000_000, direction: 'outbound', mode: 'tunnel', src: '198.18.1.11:40000', dst: '198.19.0.10:80', src_workload: 'Pod/demo/client', dst_workload: 'Pod/demo/web-1', service: 'demo/web' },
  {
    type: 'request', time: 1_796_000_000_010, reporter: 'source', src_workload: 'Pod/demo/client', dst_workload: 'Pod/demo/web-1', service: 'demo/web',
    method: 'POST', authority: 'web.demo', path: '/api/orders', status: 503, duration_ms: 12.5, outcome: 'error', response_flags: 'UF', route: 'demo/web-route',
  },
  {
    type: 'connection.close', time: 1_796_000_000_020, direction: 'outbound', mode: 'tunnel', src: '198.18.1.11:40000', dst: '198.19.0.10:80', src_workload: 'Pod/demo/client', dst_workload: 'Pod/demo/web-1',
    bytes_sent: 812, bytes_received: 4096, duration_ms: 20, outcome: 'reset', response_flags: 'UR',
  },
];

/**
 * A fake agent `/tap` on loopback: the stream's head, the events, then `tap.end` (max) for
 * `tap`; for `top` (no `max`) the stream stays open until the client leaves.
 */
async function fakeTap(tt: { teardown(fn: () => void | Promise<void>): void }): Promise<string> {
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/tap') {
      res.writeHead(404).end('{"error":"not found"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write(`${JSON.stringify({ type: 'tap.start', processes: 1 })}\n`);
    for (const e of TAP_EVENTS) res.write(`${JSON.stringify(e)}\n`);
    if (url.searchParams.has('max')) res.end(`${JSON.stringify({ type: 'tap.end', reason: 'max' })}\n`);
    else {
      open.add(res);
      res.on('close', () => open.delete(res));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  tt.teardown(() => {
    for (const res of open) res.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A controller on the two-node fixture with node-a's agent client connected and synced. */
async function controllerWithAgent(tt: { teardown(fn: () => void | Promise<void>): void }): Promise<string> {
  const logger = pino({ level: 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-parity-'));
  tt.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(FIXTURE, join(dir, 'registry'), { recursive: true });
  const tokens = join(dir, 'tokens.yaml');
  const a = await createJoinToken(tokens, { node: 'node-a' });
  const config = loadControllerConfig({ registry: join(dir, 'registry'), joinTokens: tokens, listen: '127.0.0.1:0', metricsPort: '0', debugPort: '0', stateDir: join(dir, 'state') }, {});
  const controller = new Controller(config, logger);
  const bound = await controller.start();
  tt.teardown(() => controller.close());
  const client = new ControllerClient({
    address: `127.0.0.1:${bound.port}`,
    caPem: readFileSync(join(dir, 'state', 'ca', 'ca.crt'), 'utf8'),
    node: 'node-a',
    credentials: async () => a.token,
    trustDomain: 'cluster.local',
    logger,
    onSnapshot: async () => undefined,
  });
  client.start();
  tt.teardown(() => client.close());
  await waitFor('node-a on the version in force', () => controller.proxyStatus().agents.some((r) => r.state === 'SYNCED'));
  return `127.0.0.1:${controller.debugBound?.port ?? 0}`;
}

/** A lab record as `lab up --detach` writes it (nothing of it is built: the namespaces are 0/N). */
function labRecord(base: string, name: string): void {
  mkdirSync(join(base, name), { recursive: true });
  const topology = defaultLabTopology({ name, nodes: 2 });
  writeFileSync(join(base, name, 'lab.json'), JSON.stringify({ name, createdAt: new Date().toISOString(), ownerPid: process.pid, detached: true, topology, agents: { node1: 4242, node2: null } }));
}

const POLICY_TYPO = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: typo, namespace: other}
spec:
  selector: {matchLabels: {app: dbb}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/demo/sa/client"], notPrincipals: ["cluster.local/ns/demo/sa/client"]}}]}]
`;

t.test('every read command: json parses, yaml is the same value, the text shows every fact', async (t) => {
  const rig = await adminRig(t);
  await rig.agent.applySnapshot(meshSnapshot('node1'));
  const admin = ['--admin', rig.admin, '--admin-token-file', rig.tokenFile];
  const controller = await controllerWithAgent(t);
  const tapAdmin = ['--admin', await fakeTap(t), '--admin-token-file', rig.tokenFile];
  const work = mkdtempSync(join(tmpdir(), 'meshlet-parity-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const labBase = join(work, 'labs');
  const labName = `op${process.pid % 100000}`;
  labRecord(labBase, labName);
  const tokens = join(work, 'tokens.yaml');
  await createJoinToken(tokens, { node: 'node-a', description: 'rack 3' });
  await createJoinToken(tokens, { node: 'node-b' });
  const policyDir = meshDirectory(t);
  writeFileSync(join(policyDir, 'typo.yaml'), POLICY_TYPO);

  const cases: Case[] = [
    {
      name: 'status',
      args: ['status', ...admin],
      facts: (v) => {
        const s = obj(v);
        const w = obj(s['workloads']);
        const certs = rows(s['certificates']).sort((a, b) => Date.parse(str(a['notAfter'])) - Date.parse(str(b['notAfter'])));
        return [
          str(s['agentVersion']), str(obj(s['snapshot'])['version']), `${str(w['local'])} on this node`, `${str(w['mesh'])} in the mesh`, `${str(s['services'])} services`,
          `${str(s['connections'])} open`, `${certs.length}; soonest expiry`, str(certs[0]?.['identity']), ...(s['problems'] as string[]),
        ];
      },
      stable: (v) => without(v, 'snapshot.ageSeconds', 'memory', 'usage'),
    },
    { name: 'proxy-config workloads', args: ['proxy-config', 'workloads', ...admin], facts: (v) => each(v, 'uid', 'node', 'identity', 'tlsMode'), table: true },
    { name: 'proxy-config services', args: ['proxy-config', 'services', ...admin], facts: (v) => [...each(v, 'key'), ...rows(v).flatMap((r) => (r['vips'] as string[]) ?? [])], table: true },
    { name: 'proxy-config certs', args: ['proxy-config', 'certs', ...admin], facts: (v) => each(v, 'identity', 'serial'), stable: (v) => rows(v).map((r) => without(r, 'secondsLeft')) },
    {
      name: 'proxy-config policies',
      args: ['proxy-config', 'policies', ...admin],
      facts: (v) => [...each(obj(v)['policies'], 'workload', 'policy', 'action', 'selectedBy'), ...((obj(v)['withoutPolicy'] as string[]) ?? [])],
    },
    {
      name: 'proxy-config config',
      args: ['proxy-config', 'config', ...admin],
      facts: (v) => {
        const d = obj(v);
        const s = obj(d['snapshot']);
        // The counts stand beside their labels: checked line by line below.
        return [str(d['version']), str(d['appliedAt']), str(s['node']), str(s['trustDomain'])];
      },
      stable: (v) => without(v, 'ageSeconds', 'certificates'),
    },
    { name: 'log-level', args: ['log-level', ...admin], facts: (v) => [str(obj(v)['root']), ...Object.entries(obj(obj(v)['components'])).flatMap(([k, l]) => [k, str(l)])], table: true },
    {
      name: 'version',
      args: ['version', ...admin, '--controller', controller],
      facts: (v) => {
        const o = obj(v);
        return [obj(o['client'])['version'], obj(o['client'])['runtime'], obj(o['agent'])['version'], obj(o['agent'])['node'], obj(o['agent'])['runtime'], obj(o['controller'])['version']].map(str);
      },
    },
    {
      name: 'proxy-status',
      args: ['proxy-status', '--controller', controller],
      facts: (v) => [str(obj(obj(v)['controller'])['role']), str(obj(obj(v)['controller'])['version']), ...each(obj(v)['agents'], 'node', 'state', 'agentVersion', 'sentVersion', 'ackedVersion', 'connectedSince')],
    },
    {
      name: 'check',
      args: ['check', ...admin, '--controller', controller],
      // The snapshot's age and the certificates' seconds left move between the runs: the
      // details are looked for, and compared, without their numbers.
      facts: (v) => [...each(v, 'name', 'hint'), ...each(v, 'detail').flatMap((d) => d.split(/\d+/)).filter((f) => f.trim().length > 2)],
      stable: (v) => rows(v).map((r) => ({ ...r, detail: typeof r['detail'] === 'string' ? r['detail'].replace(/\d+/g, 'N') : r['detail'] })),
    },
    { name: 'analyze', args: ['analyze', FIXTURE], facts: (v) => each(v, 'severity', 'code', 'object', 'message') },
    {
      name: 'policy check',
      args: ['policy', 'check', policyDir],
      facts: (v) => {
        const o = obj(v);
        return [`${str(o['policies'])} AuthorizationPolicies checked`, `${str(o['errors'])} errors`, `${str(o['warnings'])} warnings`, ...each(o['findings'], 'file', 'policy', 'field', 'severity', 'message')];
      },
    },
    {
      name: 'policy explain',
      args: ['policy', 'explain', '--source', 'pod/demo/client', '--destination', 'svc/demo/web:80', '--path', '/admin/x', '--config', policyDir],
      facts: (v) => {
        const o = obj(v);
        return [o['allowed'] === true ? 'ALLOWED' : 'DENIED', ...rows(o['targets']).flatMap((tg) => [str(tg['workload']), str(tg['address']), ...each(obj(tg['explanation'])['policies'], 'policy', 'action', 'selectedBy', 'apiVersion')])];
      },
    },
    {
      name: 'tap',
      args: ['tap', ...tapAdmin, '--max', '3'],
      stream: true,
      facts: (v) =>
        rows(v)
          .filter((e) => !String(e['type']).startsWith('tap.'))
          .flatMap((e) => (e['type'] === 'request' ? [e['method'], `${str(e['authority'])}${str(e['path'])}`, e['status'], e['outcome'], `flags=${str(e['response_flags'])}`, `route=${str(e['route'])}`] : [e['src'], e['dst'], e['direction'], e['mode'], ...(e['outcome'] === undefined ? [] : [e['outcome'], `${str(e['duration_ms'])}ms`])]))
          .map(str),
    },
    {
      name: 'top',
      args: ['top', ...tapAdmin, '--once', '--interval', '300ms'],
      stream: true,
      facts: (v) => rows(v).flatMap((r) => each(r['pairs'], 'source', 'destination')),
      stable: (v) => rows(v).map((r) => rows(r['pairs']).map((p) => [p['source'], p['destination'], p['requests'], p['errors'], p['connections'], p['bytes']])),
    },
    {
      name: 'lab status',
      args: ['lab', 'status', '--name', labName],
      facts: (v) =>
        rows(obj(v)['labs']).flatMap((l) => [
          `lab ${str(l['name'])}`,
          ...each(l['nodes'], 'name', 'address', 'podCidr', 'netns', 'agentPid'),
          ...each(l['pods'], 'name', 'address', 'node', 'serviceAccount'),
          ...each(l['services'], 'vip'),
          `${str(obj(l['namespaces'])['present'])}/${str(obj(l['namespaces'])['expected'])}`,
        ]),
    },
    {
      name: 'join-token list',
      args: ['join-token', 'list', '--tokens', tokens],
      facts: (v) => rows(obj(v)['tokens']).flatMap((r) => [str(r['node']), str(r['sha256']).slice(0, 16), str(r['created']), ...(r['description'] === null ? [] : [str(r['description'])])]),
      table: true,
    },
  ];

  const runs = new Map<string, { text: Run; json: unknown }>();
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const text = await meshlet(PIPE, labBase, c.args);
      const json = await meshlet(PIPE, labBase, [...c.args, '-o', 'json']);
      const yaml = await meshlet(PIPE, labBase, [...c.args, '-o', 'yaml']);
      t.not(text.code, 64, `${c.name} runs (${text.stderr})`);
      t.equal(json.code, text.code, `-o json exits as text does (${json.stderr})`);
      t.equal(yaml.code, text.code, `-o yaml exits as text does (${yaml.stderr})`);
      const alias = await meshlet(PIPE, labBase, [...c.args, '-o', 'table']);
      t.equal(alias.code, text.code, '-o table is the text format');

      let value: unknown;
      let fromYaml: unknown;
      if (c.stream === true) {
        value = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
        const docs = parseAllDocuments(yaml.stdout);
        fromYaml = Array.isArray(docs) ? docs.map((d) => d.toJS() as unknown) : [];
        t.equal(yaml.stdout.match(/^---$/gm)?.length, (value as unknown[]).length, 'one yaml document per json line');
      } else {
        t.doesNotThrow(() => (value = JSON.parse(json.stdout)), 'json parses');
        fromYaml = parse(yaml.stdout) as unknown;
      }
      const stable = c.stable ?? ((v: unknown) => v);
      t.same(stable(fromYaml), stable(value), 'yaml is the json value');

      const facts = c.facts(value).filter((f) => f !== '' && f !== 'undefined' && f !== 'null');
      t.ok(facts.length > 0, `${facts.length} facts to look for`);
      for (const f of facts) t.ok(text.stdout.includes(f), `the text shows ${JSON.stringify(f)}`);
      t.notMatch(text.stdout, ESC, 'no escape code through a pipe');
      runs.set(c.name, { text, json: value });
    });
  }

  // config's summary shows counts beside labels: checked line by line.
  await t.test('proxy-config config: the counts beside their labels', async (t) => {
    const run = runs.get('proxy-config config');
    t.ok(run, 'ran');
    const d = obj(run?.json);
    const s = obj(d['snapshot']);
    const text = run?.text.stdout ?? '';
    t.match(text, new RegExp(`^version +${str(d['version'])}$`, 'm'));
    t.match(text, new RegExp(`^node +${str(s['node'])}$`, 'm'));
    t.match(text, new RegExp(`^trust domain +${str(s['trustDomain'])}$`, 'm'));
    t.match(text, new RegExp(`^local workloads +${(s['localWorkloads'] as unknown[]).length}$`, 'm'));
    t.match(text, new RegExp(`^workloads +${(s['workloads'] as unknown[]).length}$`, 'm'));
    t.match(text, new RegExp(`^services +${(s['services'] as unknown[]).length}$`, 'm'));
  });

  await t.test('an unknown format exits 64 naming the command and the formats', async (t) => {
    for (const c of cases) {
      const bad = await meshlet(PIPE, labBase, [...c.args, '-o', 'xml']);
      const command = c.name.startsWith('proxy-config') ? 'proxy-config' : c.name;
      t.equal(bad.code, 64, `${c.name}: exit 64`);
      t.match(bad.stderr, `meshlet ${command}: -o/--output "xml" is not a format: use text (or its alias table), json or yaml`, c.name);
      t.equal(bad.stdout, '', `${c.name}: nothing on stdout`);
    }
  });

  await t.test('colours: on a terminal; never with NO_COLOR, --no-color, TERM=dumb or through a pipe', async (t) => {
    const check = ['check', ...admin, '--controller', controller];
    const status = ['status', ...admin];
    for (const args of [check, status]) {
      const coloured = await meshlet(tty(120), labBase, args);
      t.match(coloured.stdout, ESC, `${args[0] ?? ''}: colours on a terminal`);
      for (const [what, term, extra] of [
        ['NO_COLOR=1', tty(120, { NO_COLOR: '1' }), []],
        ['--no-color', tty(120), ['--no-color']],
        ['TERM=dumb', tty(120, { TERM: 'dumb' }), []],
        ['a pipe', PIPE, []],
      ] as const) {
        const plain = await meshlet(term, labBase, [...args, ...extra]);
        t.notMatch(plain.stdout, ESC, `${args[0] ?? ''}: no escape code with ${what}`);
        t.not(plain.stdout, '', `${args[0] ?? ''} printed with ${what}`);
        // Ages, times and memory move between two runs: digits are not compared.
        const digitless = (text: string): string => text.replace(/\d+/g, 'N');
        t.equal(digitless(plain.stdout), digitless(coloured.stdout.replace(/\x1b\[\d+m/g, '')), `${args[0] ?? ''}: the same text once the codes are out (${what})`);
      }
    }
    const marks = await meshlet(PIPE, labBase, check);
    t.match(marks.stdout, /^✔ agent: answers at /m, 'the marks stay through a pipe');
  });

  await t.test('a table fits a 40-column terminal; through a pipe nothing is cut', async (t) => {
    const tables = cases.filter((c) => c.table === true);
    t.ok(tables.length >= 4, 'tables to fit');
    for (const c of [...tables, ...cases.filter((c) => c.name === 'status')]) {
      const narrow = await meshlet(tty(40), labBase, c.args);
      // status: its fields are the table; the reasons under UNHEALTHY are sentences, never cut.
      const lines = (c.name === 'status' ? (narrow.stdout.split('\n\n')[0] ?? '') : narrow.stdout).trimEnd().split('\n');
      t.ok(lines.length > 1, `${c.name}: lines`);
      t.same(lines.filter((l) => l.length > 40), [], `${c.name}: every line within 40 columns`);
      const piped = runs.get(c.name)?.text.stdout ?? '';
      t.notMatch(piped, '…', `${c.name}: nothing cut through a pipe`);
    }
    const workloads = await meshlet(tty(40), labBase, ['proxy-config', 'workloads', ...admin]);
    t.match(workloads.stdout, '…', 'the 40-column table was cut (with an ellipsis)');
    const wide = runs.get('proxy-config workloads')?.text.stdout ?? '';
    t.ok(Math.max(...wide.split('\n').map((l) => l.length)) > 40, 'the piped table is wider than 40 columns: it was not cut');
  });
});
