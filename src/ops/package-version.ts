/**
 * meshlet's own version, from its package.json: the compiled module runs from `dist/src/ops/`,
 * three levels below the repository root that holds package.json.
 */
import { readFileSync } from 'node:fs';

/** The `version` of meshlet's package.json. */
export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
