/**
 * A small table renderer for the SRE commands: columns aligned with two spaces, the whole
 * table fitted to a width (the commands pass their terminal's, `output.ts`: unbounded when
 * stdout is not a terminal, so a pipe is never cut; 100 when none is given) by shrinking the
 * widest columns and cutting long cells with an ellipsis, then with one space between columns,
 * and as a last resort by cutting the lines: no line is ever wider than the width. Plain ASCII widths: cells are
 * identities, addresses and numbers, not wide characters.
 */

/** How {@link renderTable} lays a table out. */
export interface TableOptions {
  /** The widest a line may be (default 100; `Infinity`: never cut). */
  readonly maxWidth?: number;
  /** Spaces between columns (default 2). */
  readonly gap?: number;
}

/** The narrowest a column is cut to: room for a letter or two and the ellipsis. */
const MIN_COLUMN = 3;

const ELLIPSIS = '…';

/** `text` cut to `width` characters, the last one an ellipsis when anything was cut. */
export function truncate(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 0) return '';
  return `${text.slice(0, width - 1)}${ELLIPSIS}`;
}

/**
 * The column widths: each column's widest cell, then, while the line is too wide, the widest
 * column loses one character, so short columns such as counts stay whole. Columns shrink first
 * down to their `floors` (the headers' widths), then, only if that is not enough, down to
 * {@link MIN_COLUMN}. Bounded: every round removes one character or ends the pass.
 */
export function fitWidths(natural: readonly number[], maxWidth: number, gap: number, floors: readonly number[] = []): number[] {
  const widths = [...natural];
  const room = maxWidth - gap * Math.max(0, widths.length - 1);
  let total = widths.reduce((a, b) => a + b, 0);
  for (const floorOf of [(i: number) => Math.max(MIN_COLUMN, floors[i] ?? 0), () => MIN_COLUMN]) {
    while (total > room) {
      let widest = -1;
      for (let i = 0; i < widths.length; i++) {
        const w = widths[i] ?? 0;
        if (w > floorOf(i) && (widest < 0 || w > (widths[widest] ?? 0))) widest = i;
      }
      if (widest < 0) break;
      widths[widest] = (widths[widest] ?? 0) - 1;
      total -= 1;
    }
  }
  return widths;
}

/** Renders `rows` under `headers`, one line each, ending with a newline; trailing spaces trimmed. */
export function renderTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, opts: TableOptions = {}): string {
  const maxWidth = opts.maxWidth ?? 100;
  let gap = opts.gap ?? 2;
  const all = [headers, ...rows];
  const natural = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const floors = headers.map((h) => h.length);
  let widths = fitWidths(natural, maxWidth, gap, floors);
  const lineWidth = (ws: readonly number[], g: number): number => ws.reduce((a, b) => a + b, 0) + g * Math.max(0, ws.length - 1);
  // Many columns at their narrowest still too wide: one space between them before anything else.
  if (gap > 1 && lineWidth(widths, gap) > maxWidth) {
    gap = 1;
    widths = fitWidths(natural, maxWidth, gap, floors);
  }
  const sep = ' '.repeat(gap);
  // Still too wide (more columns than the width holds at their narrowest): the lines are cut.
  const lines = all.map((r) => truncate(headers.map((_, i) => truncate(r[i] ?? '', widths[i] ?? 0).padEnd(widths[i] ?? 0)).join(sep).trimEnd(), maxWidth));
  return `${lines.join('\n')}\n`;
}

/** Renders `key  value` lines with the keys aligned (for one object, such as a status). */
export function renderFields(fields: ReadonlyArray<readonly [string, string]>, opts: TableOptions = {}): string {
  const width = Math.max(0, ...fields.map(([k]) => k.length));
  const max = opts.maxWidth ?? 100;
  const gap = opts.gap ?? 2;
  return fields.map(([k, v]) => truncate(`${k.padEnd(width)}${' '.repeat(gap)}${v}`, max).trimEnd()).join('\n') + (fields.length > 0 ? '\n' : '');
}
