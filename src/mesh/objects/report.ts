/**
 * Problem collection for object parsing. Validation never stops at the first problem: every
 * check reports into a {@link Reporter}, and the caller turns the collected lines into one
 * MeshletError at the end, so a user fixes a whole file in one round.
 */
import { MeshletError, type MeshletErrorCode } from '../errors.js';

/** A field path inside one document: `['spec', 'ports', 1, 'targetPort']`. */
export type FieldPath = readonly (string | number)[];

/** What went wrong, and whether it is a syntax, content or cross-object problem. */
export interface ObjectProblem {
  readonly kind: 'syntax' | 'content' | 'conflict';
  /** One readable line naming the file, document or line, object, field and value. */
  readonly text: string;
}

/** Renders a field path as `spec.ports[1].targetPort`. */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
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

/**
 * Collects the problems of one document. `object` is filled in as soon as the object's kind and
 * name are known, so later lines say `Pod demo/client` rather than only the document.
 */
export class Reporter {
  object = '';

  /**
   * @param file source file name, first in every line
   * @param doc 0-based document index in the file
   * @param locate maps a field path to a 1-based line, when the source text is known
   * @param prefix path of this object inside its document (`['items', 3]` for a List item)
   * @param problems where problems go; List items share their document's list
   */
  constructor(
    readonly file: string,
    readonly doc: number,
    private readonly locate: (path: FieldPath) => number | undefined = () => undefined,
    readonly prefix: FieldPath = [],
    readonly problems: ObjectProblem[] = [],
  ) {}

  /** Records one problem at `path` (relative to the object). */
  report(path: FieldPath, message: string): void {
    const full = [...this.prefix, ...path];
    const line = this.locate(full);
    const where = line === undefined ? `${this.file} (document ${this.doc + 1})` : `${this.file}:${line} (document ${this.doc + 1})`;
    const parts = [where];
    if (this.object !== '') parts.push(this.object);
    if (full.length > 0) parts.push(formatPath(full));
    parts.push(message);
    this.problems.push({ kind: 'content', text: parts.join(': ') });
  }

  /** A reporter for an object nested in this document (a List item), sharing the problem list. */
  nested(prefix: FieldPath): Reporter {
    return new Reporter(this.file, this.doc, this.locate, [...this.prefix, ...prefix], this.problems);
  }
}

/** Problems listed inline in an error message before it says "and N more". */
const MAX_MESSAGE_PROBLEMS = 20;

/**
 * One MeshletError for a list of problems: the code follows the worst kind (syntax, then
 * content, then conflicts), the message reads on its own, and `details` holds every line.
 */
export function problemsError(problems: readonly ObjectProblem[]): MeshletError {
  const code: MeshletErrorCode = problems.some((p) => p.kind === 'syntax')
    ? 'MESHLET_ERR_YAML_PARSE'
    : problems.some((p) => p.kind === 'content')
      ? 'MESHLET_ERR_OBJECT_INVALID'
      : 'MESHLET_ERR_OBJECT_CONFLICT';
  const details = problems.map((p) => p.text);
  if (details.length === 1) return new MeshletError(code, details[0] ?? '', { details });
  const shown = details.slice(0, MAX_MESSAGE_PROBLEMS).map((d) => `  - ${d}`);
  if (details.length > MAX_MESSAGE_PROBLEMS) shown.push(`  ... and ${details.length - MAX_MESSAGE_PROBLEMS} more`);
  const noun = code === 'MESHLET_ERR_OBJECT_CONFLICT' ? 'conflicts between mesh objects' : 'problems in mesh objects';
  return new MeshletError(code, `${details.length} ${noun}:\n${shown.join('\n')}`, { details });
}
