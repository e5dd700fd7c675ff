/**
 * The output conventions of every read command (`src/cli/output.ts`): the formats and their
 * alias, the one `-o` option and its usage error, colours only on a terminal that wants them,
 * tables fitted to a terminal and never cut through a pipe, stream records in json and yaml.
 */
import { Command, CommanderError } from 'commander';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { processIo, withUsageExits, type AdminIo } from '../../../src/cli/admin-client.js';
import { render } from '../../../src/cli/check-command.js';
import {
  checkMark,
  formatOutput,
  formatRecord,
  OUTPUT_CHOICES,
  outputContext,
  outputOptions,
  paint,
  parseOutputFormat,
  tableWidth,
  terminalOf,
  useColor,
  type Terminal,
} from '../../../src/cli/output.js';
import { renderTable } from '../../../src/cli/table.js';

const ESC = '\x1b';
const tty = (env: Record<string, string> = {}, columns = 120): Terminal => ({ isTTY: true, columns, env });
const pipe: Terminal = { isTTY: false, env: {} };

t.test('formats: text, json, yaml; table is text; anything else names the command and the formats', async (t) => {
  t.equal(parseOutputFormat('status', 'text'), 'text');
  t.equal(parseOutputFormat('status', 'table'), 'text', 'the old name still works');
  t.equal(parseOutputFormat('status', 'json'), 'json');
  t.equal(parseOutputFormat('status', 'yaml'), 'yaml');
  for (const bad of ['xml', 'JSON', '', 'yml', 'text ', 'toString', '__proto__']) {
    t.throws(() => parseOutputFormat('policy check', bad), { code: 'MESHLET_ERR_CONFIG_INVALID', message: `meshlet policy check: -o/--output ${JSON.stringify(bad)} is not a format: use text (or its alias table), json or yaml` }, JSON.stringify(bad));
  }
  t.same(OUTPUT_CHOICES, ['text', 'json', 'yaml', 'table'], 'the choices shell completion offers');
});

/** A command with the shared options, run through commander as the CLI runs it. */
async function parseWith(args: string[]): Promise<{ opts: Record<string, unknown>; code: number | undefined; stderr: string }> {
  let stderr = '';
  let code: number | undefined;
  let opts: Record<string, unknown> = {};
  const io: AdminIo = { stdout: () => undefined, stderr: (s) => (stderr += s), exit: (c) => (code = c) };
  const program = new Command('meshlet').exitOverride();
  outputOptions(withUsageExits(program.command('thing'), io), 'thing', { text: 'a table' }).action((o: Record<string, unknown>) => {
    opts = o;
  });
  try {
    await program.parseAsync(['node', 'meshlet', 'thing', ...args]);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
  }
  return { opts, code, stderr };
}

t.test('the -o option: default text, alias normalized, a bad value exits 64 with the command and the formats', async (t) => {
  t.same((await parseWith([])).opts, { output: 'text', color: true });
  t.same((await parseWith(['-o', 'table'])).opts, { output: 'text', color: true }, 'table arrives as text');
  t.same((await parseWith(['--output', 'yaml', '--no-color'])).opts, { output: 'yaml', color: false });
  const bad = await parseWith(['-o', 'xml']);
  t.equal(bad.code, 64);
  t.match(bad.stderr, /meshlet thing: -o\/--output "xml" is not a format: use text \(or its alias table\), json or yaml/);
  const help = new Command('meshlet').configureHelp({ helpWidth: 1000 });
  outputOptions(help.command('thing'), 'thing', { text: 'a table', stream: true });
  const line = help.commands[0]?.helpInformation() ?? '';
  t.match(line, /text \(or table\): a table; json: one JSON object per line \(NDJSON\); yaml: one YAML document per record/, 'a stream says how json and yaml come');
  t.match(line, /choices: "text", "json", "yaml", "table"/);
  t.match(line, /--no-color/);
});

t.test('colours: a terminal only, and never with --no-color, NO_COLOR or TERM=dumb', async (t) => {
  t.equal(useColor(tty(), undefined), true, 'a terminal');
  t.equal(useColor(tty(), true), true);
  t.equal(useColor(pipe, true), false, 'a pipe');
  t.equal(useColor(tty(), false), false, '--no-color');
  t.equal(useColor(tty({ NO_COLOR: '1' }), true), false, 'NO_COLOR=1');
  t.equal(useColor(tty({ NO_COLOR: 'anything' }), true), false, 'NO_COLOR set to anything');
  t.equal(useColor(tty({ NO_COLOR: '' }), true), true, 'an empty NO_COLOR does not count (no-color.org)');
  t.equal(useColor(tty({ TERM: 'dumb' }), true), false, 'TERM=dumb');
  t.equal(useColor(tty({ TERM: 'xterm-256color' }), true), true);
});

t.test('paint and the check marks: escape codes only with colour; the marks stay without', async (t) => {
  t.equal(paint(false, 'red', 'x'), 'x');
  t.equal(paint(true, 'red', 'x'), `${ESC}[31mx${ESC}[0m`);
  t.same(['ok', 'fail', 'warn'].map((o) => checkMark(o as 'ok', false)), ['✔', '✖', '!']);
  t.equal(checkMark('ok', true), `${ESC}[32m✔${ESC}[0m`);
  t.equal(checkMark('fail', true), `${ESC}[31m✖${ESC}[0m`);
  const results = [
    { name: 'a', outcome: 'ok' as const, detail: 'fine' },
    { name: 'b', outcome: 'fail' as const, detail: 'broken', hint: 'fix it' },
  ];
  const plain = render(results);
  t.notMatch(plain, ESC, 'no escape code by default');
  t.match(plain, /^✔ a: fine\n✖ b: broken\n {4}fix it\nStatus check results are ✖ \(1 failed\)\n$/);
  const coloured = render(results, true);
  t.match(coloured, `${ESC}[32m✔${ESC}[0m a: fine`);
  t.equal(coloured.replace(/\x1b\[\d+m/g, ''), plain, 'the same text once the codes are taken out');
});

t.test('widths: the terminal\'s columns, 80 when it does not say, never cut through a pipe', async (t) => {
  t.equal(tableWidth(tty({}, 40)), 40);
  t.equal(tableWidth({ isTTY: true, env: {} }), 80);
  t.equal(tableWidth({ isTTY: true, columns: 0, env: {} }), 80, 'a terminal that answers 0 columns');
  t.equal(tableWidth(pipe), Number.POSITIVE_INFINITY);
  const long = `spiffe://cluster.local/ns/demo/sa/${'x'.repeat(120)}`;
  const piped = renderTable(['ID', 'IDENTITY'], [['1', long]], { maxWidth: tableWidth(pipe) });
  t.match(piped, long, 'the whole cell through a pipe');
  t.notMatch(piped, '…');
  const narrow = renderTable(['ID', 'IDENTITY'], [['1', long]], { maxWidth: tableWidth(tty({}, 40)) });
  const lines = narrow.trimEnd().split('\n');
  t.equal(lines.length, 2);
  for (const l of lines) t.ok(l.length <= 40, `${l.length} <= 40`);
  t.match(lines[1], /…$/, 'cut with an ellipsis');
});

t.test('the terminal of an io: a test io is a pipe unless it says; the process is its stdout', async (t) => {
  const io: AdminIo = { stdout: () => undefined, stderr: () => undefined, exit: () => undefined };
  t.same(terminalOf(io), pipe);
  t.same(terminalOf({ ...io, terminal: tty({}, 33) }), tty({}, 33));
  t.equal(terminalOf(processIo).isTTY, process.stdout.isTTY === true);
  const ctx = outputContext({ ...io, terminal: tty({ NO_COLOR: '1' }, 50) }, 'status', { output: 'table' });
  t.same(ctx, { format: 'text', color: false, width: 50, tty: true });
  t.throws(() => outputContext(io, 'status', { output: 'html' }), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /meshlet status: -o\/--output "html"/ });
});

t.test('whole answers: json and yaml carry the same value; text is the caller\'s', async (t) => {
  const value = { name: 'x', count: 3, list: [{ a: 'b: c' }, { a: '- d' }], none: null, yes: true, n: '0123' };
  const json = formatOutput({ format: 'json' }, value, () => 'never');
  t.same(JSON.parse(json), value);
  t.match(json, /\n$/);
  t.same(parse(formatOutput({ format: 'yaml' }, value, () => 'never')), value, 'strings that look like YAML stay strings');
  t.equal(formatOutput({ format: 'text' }, value, () => 'text\n'), 'text\n');
});

t.test('stream records: json one line each, yaml one --- document each', async (t) => {
  const events = [{ type: 'request', status: 200, path: '/a\nb' }, { type: 'tap.end', reason: 'max' }];
  const ndjson = events.map((e) => formatRecord('json', e)).join('');
  t.same(ndjson.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown), events, 'a newline inside a value stays escaped');
  const yaml = events.map((e) => formatRecord('yaml', e)).join('');
  const docs = parseAllDocuments(yaml);
  t.ok(Array.isArray(docs), 'documents');
  t.same((docs as ReturnType<typeof parseAllDocuments> & unknown[]).map((d) => (d as { toJS(): unknown }).toJS()), events);
  t.equal(yaml.match(/^---$/gm)?.length, 2, 'one separator per record');
});
