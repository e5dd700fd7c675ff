/**
 * Canonical JSON for digests: object keys sorted, Maps as sorted entries, undefined fields
 * dropped, and where an object came from (its `source` reference) left out, so moving an
 * object to another file changes nothing.
 */

/** `value` as canonical JSON (see the module comment). */
export function canonicalJson(value: unknown): string {
  if (value instanceof Map) {
    const entries = [...value.entries()].map(([k, v]) => [String(k), v] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined && !(k === 'source' && isSourceRef(record[k])))
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A SourceRef (`{ file, doc }`), told apart from a label named `source` (whose value is a string). */
function isSourceRef(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { file?: unknown }).file === 'string';
}
