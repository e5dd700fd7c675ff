/**
 * The two-node fixture (`test/fixtures/mesh/two-node/`), read from the source tree and parsed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import type { MeshObject } from '../../../src/mesh/types.js';

/** Directory of the two-node fixture. */
export const TWO_NODE_DIR = fileURLToPath(new URL('../../../../test/fixtures/mesh/two-node/', import.meta.url));

/** The fixture's files as `{ name, text }`, sorted. */
export function twoNodeFiles(): { name: string; text: string }[] {
  return readdirSync(TWO_NODE_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((name) => ({ name, text: readFileSync(join(TWO_NODE_DIR, name), 'utf8') }));
}

/** Every object of the fixture, parsed with the file name as source. */
export function twoNodeObjects(): MeshObject[] {
  return twoNodeFiles().flatMap(({ name, text }) => parseObjects(text, name));
}

/** Runs `fn`, returning the error it throws (or undefined). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err;
  }
}
