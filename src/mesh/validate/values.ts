/**
 * Value helpers shared by every parser: the plain-object test, how a bad value is shown in a
 * message, field paths, and the "did you mean" hint for a misspelt name.
 */

/** A decoded mapping (a YAML mapping, a JSON object) as a plain object. */
export type Fields = Readonly<Record<string, unknown>>;

/** True for a plain mapping (not a list, not null). */
export function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when a field is absent, null or an empty string: what Kubernetes treats as unset. */
export function isMissing(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

/** Longest rendering of a bad value in a message: enough to recognise it, not a whole blob. */
const MAX_VALUE_CHARS = 60;

/** Renders a bad value for a message: strings quoted, collections named by their shape. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}...` : text;
}

/** A field path inside one document: `['spec', 'ports', 1, 'targetPort']`. */
export type FieldPath = readonly (string | number)[];

/** Renders a field path as `spec.ports[1].targetPort`. */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

/**
 * Names longer than this get no hint: the distance table is length², and a name this long is
 * not a typo of a field name (field and flag names are under 40 characters).
 */
const MAX_HINT_NAME_CHARS = 64;

/** Levenshtein distance, bounded work: callers pass names of at most {@link MAX_HINT_NAME_CHARS}. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/**
 * The closest allowed name to a misspelt one, if it is close enough to be a likely typo:
 * case is ignored, names of up to 4 characters may be one edit away, longer ones two.
 */
export function didYouMean(name: string, allowed: readonly string[]): string | undefined {
  if (name.length > MAX_HINT_NAME_CHARS) return undefined;
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    if (candidate.length > MAX_HINT_NAME_CHARS) continue;
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  // Two edits catch most typos; short names get one, or every short word would match.
  const limit = name.length <= 4 ? 1 : 2;
  return bestDistance <= limit ? best : undefined;
}

/**
 * The message for an unknown field or option: `unknown field (did you mean nodeName?)` when a
 * known name is close; otherwise plain, or with the allowed names listed when `listAllowed`.
 */
export function unknownNameMessage(name: string, allowed: readonly string[], what = 'field', listAllowed = false): string {
  const hint = didYouMean(name, allowed);
  if (hint !== undefined) return `unknown ${what} (did you mean ${hint}?)`;
  return listAllowed ? `unknown ${what} (allowed: ${allowed.join(', ')})` : `unknown ${what}`;
}
