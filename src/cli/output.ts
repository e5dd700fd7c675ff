/**
 * How every read command prints (docs/sre-cli.md, "Conventions"): the `-o` formats (`text`,
 * with `table` kept as its alias, `json`, `yaml`) behind one commander option, the terminal's
 * width for tables (a pipe is never cut), and colours only on a terminal that wants them.
 * Commands decide what to say; this module decides how it reaches stdout.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { MeshletError } from '../mesh/errors.js';
import { processIo, type AdminIo } from './admin-client.js';

/** The output formats of every read command. */
export const OUTPUT_FORMATS = ['text', 'json', 'yaml'] as const;
/** One output format. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * Old names still accepted: `table` was the text format of `proxy-config`, `analyze`, `policy`,
 * `top`. A Map, not an object: `-o toString` must not find a prototype's method.
 */
const ALIASES: ReadonlyMap<string, OutputFormat> = new Map([['table', 'text']]);

/** Every value `-o` accepts, aliases included (for the help text and shell completion). */
export const OUTPUT_CHOICES: readonly string[] = [...OUTPUT_FORMATS, ...ALIASES.keys()];

/** Width of a table on a terminal that does not say its own (a serial console, `script`). */
const DEFAULT_COLUMNS = 80;

/**
 * Validates a `-o` value for `command` (`status`, `policy check`); `table` becomes `text`.
 * Throws `MESHLET_ERR_CONFIG_INVALID` (exit 64) naming the command and the allowed values.
 */
export function parseOutputFormat(command: string, value: string): OutputFormat {
  const found = formatOf(value);
  if (found === undefined) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', formatMessage(command, value));
  return found;
}

function formatOf(value: string): OutputFormat | undefined {
  return OUTPUT_FORMATS.find((f) => f === value) ?? ALIASES.get(value);
}

function formatMessage(command: string, value: string): string {
  return `meshlet ${command}: -o/--output ${JSON.stringify(value)} is not a format: use text (or its alias table), json or yaml`;
}

/** What a command's `-o` prints, for its help line. */
export interface OutputHelp {
  /** What `text` shows (`a table`, `one ✔/✖ line per check`). */
  readonly text: string;
  /** A streaming command (`tap`, `top`): json is one line per record, yaml one document per record. */
  readonly stream?: boolean;
}

/**
 * The `-o, --output <format>` option of `command`: the same flags, choices and wording on every
 * read command; an unknown value is a usage error (exit 64) naming the command and the formats.
 */
export function outputOption(command: string, help: OutputHelp): Option {
  const rest = help.stream === true ? 'json: one JSON object per line (NDJSON); yaml: one YAML document per record, separated by ---' : 'json or yaml: the whole answer';
  return new Option('-o, --output <format>', `text (or table): ${help.text}; ${rest}`)
    .choices(OUTPUT_CHOICES)
    .argParser((value: string) => {
      const found = formatOf(value);
      if (found === undefined) throw new InvalidArgumentError(formatMessage(command, value));
      return found;
    })
    .default('text');
}

/** Adds `-o` and `--no-color` to a read command. */
export function outputOptions(cmd: Command, command: string, help: OutputHelp): Command {
  return cmd.addOption(outputOption(command, help)).option('--no-color', 'no colours (also: NO_COLOR set, TERM=dumb, or stdout not a terminal)');
}

/** What a command's stdout is: a terminal (and how wide) or not, and the environment that speaks to colours. */
export interface Terminal {
  readonly isTTY: boolean;
  /** Columns of the terminal (TTY only). */
  readonly columns?: number;
  /** `NO_COLOR` and `TERM`, as the process has them. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** An io that may say what its stdout is; tests pass a fake terminal, the real process has its own. */
export interface OutputIo extends AdminIo {
  readonly terminal?: Terminal;
}

/** The terminal behind `io`: the process's stdout for the real process, else what the io says (a pipe by default). */
export function terminalOf(io: OutputIo): Terminal {
  if (io.terminal !== undefined) return io.terminal;
  if (io !== processIo) return { isTTY: false, env: {} };
  const out = process.stdout;
  return { isTTY: out.isTTY === true, ...(out.columns === undefined ? {} : { columns: out.columns }), env: process.env };
}

/**
 * Colours: only on a terminal, never with `--no-color`, `NO_COLOR` set to anything but empty
 * (no-color.org), or `TERM=dumb`.
 */
export function useColor(term: Terminal, flag: boolean | undefined): boolean {
  if (flag === false || !term.isTTY) return false;
  const noColor = term.env['NO_COLOR'];
  if (noColor !== undefined && noColor !== '') return false;
  return term.env['TERM'] !== 'dumb';
}

/** The widest a table may be: the terminal's columns, or unbounded when stdout is not a terminal (a pipe or file is never cut). */
export function tableWidth(term: Terminal): number {
  if (!term.isTTY) return Number.POSITIVE_INFINITY;
  return term.columns !== undefined && term.columns > 0 ? term.columns : DEFAULT_COLUMNS;
}

/** How one run of a command prints. */
export interface OutputContext {
  readonly format: OutputFormat;
  readonly color: boolean;
  /** For tables: {@link tableWidth}. */
  readonly width: number;
  readonly tty: boolean;
}

/** The flags every read command has (see {@link outputOptions}). */
export interface OutputFlags {
  readonly output?: string;
  readonly color?: boolean;
}

/** The context of `command`'s run: its `-o` checked, colours and width from `io`'s terminal. */
export function outputContext(io: OutputIo, command: string, flags: OutputFlags): OutputContext {
  const term = terminalOf(io);
  return { format: parseOutputFormat(command, flags.output ?? 'text'), color: useColor(term, flags.color), width: tableWidth(term), tty: term.isTTY };
}

/** A whole answer in `ctx`'s format: `value` as JSON or YAML, else `text()`. */
export function formatOutput(ctx: Pick<OutputContext, 'format'>, value: unknown, text: () => string): string {
  if (ctx.format === 'json') return `${JSON.stringify(value, null, 2)}\n`;
  if (ctx.format === 'yaml') return stringify(value);
  return text();
}

/** One record of a stream (`tap`, `top`) as json (one line) or yaml (one `---` document); text is the caller's. */
export function formatRecord(format: Exclude<OutputFormat, 'text'>, value: unknown): string {
  return format === 'json' ? `${JSON.stringify(value)}\n` : `---\n${stringify(value)}`;
}

const SGR = { red: 31, green: 32, yellow: 33, bold: 1 } as const;

/** `text` in a colour when `color` is on, else as it is (no escape code at all). */
export function paint(color: boolean, style: keyof typeof SGR, text: string): string {
  return color ? `\x1b[${SGR[style]}m${text}\x1b[0m` : text;
}

/** The mark of a check's outcome: ✔, ✖ or `!`, coloured on a terminal; the same characters through a pipe. */
export function checkMark(outcome: 'ok' | 'fail' | 'warn', color: boolean): string {
  if (outcome === 'ok') return paint(color, 'green', '✔');
  if (outcome === 'fail') return paint(color, 'red', '✖');
  return paint(color, 'yellow', '!');
}
