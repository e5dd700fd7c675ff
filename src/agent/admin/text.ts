/**
 * `?format=text`: the admin API's JSON rendered for a human at a terminal. A list of flat rows
 * becomes an aligned table; anything else becomes indented `key: value` lines.
 */

/** Column widths are capped so one long identity does not push the rest off screen. */
const MAX_CELL = 60;

function cell(v: unknown): string {
  const s = v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return s.length > MAX_CELL ? `${s.slice(0, MAX_CELL - 1)}…` : s;
}

function table(rows: ReadonlyArray<Record<string, unknown>>): string {
  if (rows.length === 0) return '(none)\n';
  const columns = Object.keys(rows[0] as Record<string, unknown>);
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => columns.map((c) => cell(r[c])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => (line[i] ?? '').length)));
  return cells.map((line) => line.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n') + '\n';
}

function lines(value: unknown, indent: string): string {
  if (value === null || typeof value !== 'object') return `${cell(value)}\n`;
  if (Array.isArray(value) && value.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v))) {
    return `\n${table(value as Array<Record<string, unknown>>).replace(/^/gm, indent)}`;
  }
  let out = '\n';
  for (const [k, v] of Object.entries(value)) out += `${indent}${k}: ${lines(v, `${indent}  `)}`;
  return out;
}

/** Renders an admin response body as text. */
export function renderText(value: unknown): string {
  if (Array.isArray(value)) return table(value as Array<Record<string, unknown>>);
  return lines(value, '').replace(/^\n/, '');
}
