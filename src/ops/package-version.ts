/**
 * meshlet's own version, from its package.json (`dist/src/ops/` is three levels below the
 * repository root, as `src/ops/` is from the sources' root when run by tsx-less tests).
 */
import { readFileSync } from 'node:fs';

/** The `version` of meshlet's package.json. */
export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
