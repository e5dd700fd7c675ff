/**
 * Module hooks of `load-recorder.ts` (they run on the loader thread): appends every module URL
 * that is loaded to the file named in `initialize`'s data, one per line.
 */
import { appendFileSync } from 'node:fs';

let file: string | undefined;

/** Told the file to write to. */
export function initialize(data: { file: string }): void {
  file = data.file;
}

type Next = (url: string, context: unknown) => Promise<unknown>;

/** Records the URL, then loads as usual. */
export async function load(url: string, context: unknown, next: Next): Promise<unknown> {
  if (file !== undefined) appendFileSync(file, url + '\n');
  return next(url, context);
}
