/**
 * Problem collection for object parsing: the located layer over the validation toolkit
 * (`src/mesh/validate/`). The toolkit's readers report into a {@link Reporter}, which names the
 * file, line, document and object in each line; the caller turns the collected problems into
 * one MeshletError at the end, so a user fixes a whole file in one round.
 */
import { MeshletError, type MeshletErrorCode } from '../errors.js';
import type { ProblemSink } from '../validate/problems.js';
import { formatPath, type FieldPath } from '../validate/values.js';

/** What went wrong, and whether it is a syntax, content or cross-object problem. */
export interface ObjectProblem {
  readonly kind: 'syntax' | 'content' | 'conflict';
  /** One readable line naming the file, document or line, object, field and value. */
  readonly text: string;
}

/**
 * Collects the problems of one document. `object` is filled in as soon as the object's kind and
 * name are known, so later lines say `Pod demo/client` rather than only the document.
 */
export class Reporter implements ProblemSink {
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
