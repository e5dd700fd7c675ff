/**
 * The join token file: which node may join with which token. It holds SHA-256 hashes only, so
 * reading it (or a backup of it) never reveals a token:
 *
 * ```yaml
 * tokens:
 *   - node: node1
 *     sha256: 3b0c...   # hex SHA-256 of the token
 *     created: 2025-01-01T00:00:00.000Z   # optional
 *     description: rack 3 VM              # optional
 * ```
 *
 * A node may have several tokens (a rotation overlaps the old and the new one).
 */
import { createHash, randomBytes } from 'node:crypto';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type YAMLMap } from 'yaml';
import { MeshletError } from '../../mesh/errors.js';
import { isDnsSubdomain } from '../../mesh/validate/formats.js';

/**
 * Prefix of tokens meshlet generates. It makes a leaked token recognisable (secret scanners,
 * logs) and tells it apart from a Kubernetes token (a JWT) at a glance.
 */
export const JOIN_TOKEN_PREFIX = 'mjt_';

/** 256 random bits: guessing is hopeless, so a plain hash (no salt, no KDF) is enough to store. */
const TOKEN_BYTES = 32;

/** Fields an entry may have; anything else is a typo the operator should hear about. */
const ENTRY_FIELDS = ['node', 'sha256', 'created', 'description'] as const;

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** One entry of the file. */
export interface JoinTokenEntry {
  readonly node: string;
  /** Lowercase hex SHA-256 of the token. */
  readonly sha256: string;
  readonly created?: string;
  readonly description?: string;
  /** 1-based line of the entry in its file. */
  readonly line: number;
}

/** A new random join token (`mjt_` + 43 base64url characters). Shown once, never stored. */
export function generateJoinToken(): string {
  return JOIN_TOKEN_PREFIX + randomBytes(TOKEN_BYTES).toString('base64url');
}

/** The lowercase hex SHA-256 of a token, as the file stores it. */
export function hashJoinToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The parsed YAML document with its line counter, for callers that edit the file. */
export interface ParsedJoinTokens {
  readonly doc: Document;
  readonly entries: readonly JoinTokenEntry[];
}

/**
 * Parses and validates the file's text. An empty file (or `tokens: []`) has no tokens. Throws
 * MESHLET_ERR_CONFIG_INVALID whose `details` name every problem as `file:line: ...`.
 */
export function parseJoinTokens(text: string, file: string): ParsedJoinTokens {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: true, uniqueKeys: true });
  const problems: string[] = [];
  const at = (node: unknown, what: string): void => {
    const start = (node as { range?: [number, ...number[]] } | null)?.range?.[0];
    problems.push(`${file}:${start === undefined ? 1 : counter.linePos(start).line}: ${what}`);
  };
  for (const err of doc.errors) problems.push(`${file}:${err.linePos?.[0].line ?? 1}: YAML syntax error: ${err.message.split('\n')[0] ?? ''}`);
  const entries: JoinTokenEntry[] = [];
  if (problems.length === 0) entries.push(...readEntries(doc, at, counter));
  if (problems.length > 0) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `join token file ${file} is invalid: ${problems[0] ?? ''}`, { details: problems });
  }
  return { doc, entries };
}

type Report = (node: unknown, what: string) => void;

function readEntries(doc: Document, at: Report, counter: LineCounter): JoinTokenEntry[] {
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return [];
  if (!isMap(root)) {
    at(root, 'the file must be a mapping with a "tokens" list');
    return [];
  }
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (key !== 'tokens') at(pair.key, `unknown field ${JSON.stringify(key)}: the file has only "tokens"`);
  }
  const list = root.get('tokens', true);
  if (list === undefined || (isScalar(list) && list.value === null)) return [];
  if (!isSeq(list)) {
    at(list, '"tokens" must be a list of { node, sha256 }');
    return [];
  }
  const entries: JoinTokenEntry[] = [];
  const seen = new Map<string, number>();
  list.items.forEach((item, i) => {
    const entry = readEntry(item, i, at, counter);
    if (entry === undefined) return;
    const first = seen.get(entry.sha256);
    if (first !== undefined) {
      at(item, `tokens[${i}]: the same token hash is already listed at line ${first}; a token belongs to one entry`);
      return;
    }
    seen.set(entry.sha256, entry.line);
    entries.push(entry);
  });
  return entries;
}

function readEntry(item: unknown, i: number, at: Report, counter: LineCounter): JoinTokenEntry | undefined {
  const where = `tokens[${i}]`;
  if (!isMap(item)) {
    at(item, `${where}: must be a mapping { node, sha256 }`);
    return undefined;
  }
  const fields = readFields(item, where, at);
  let ok = fields.ok;
  const node = fields.values.get('node');
  const sha256 = fields.values.get('sha256');
  if (node !== undefined && !isDnsSubdomain(node)) {
    at(item.get('node', true), `${where}.node: ${JSON.stringify(node.slice(0, 80))} is not a valid node name (RFC 1123 subdomain)`);
    ok = false;
  }
  if (sha256 !== undefined && !SHA256_HEX.test(sha256.toLowerCase())) {
    // The value is not echoed: a mistake here is often the token itself pasted in.
    at(item.get('sha256', true), `${where}.sha256: must be the 64 hex characters of the token's SHA-256, got ${sha256.length} characters`);
    ok = false;
  }
  if (!ok || node === undefined || sha256 === undefined) return undefined;
  const created = fields.values.get('created');
  const description = fields.values.get('description');
  return {
    node,
    sha256: sha256.toLowerCase(),
    line: counter.linePos(item.range?.[0] ?? 0).line,
    ...(created === undefined ? {} : { created }),
    ...(description === undefined ? {} : { description }),
  };
}

/**
 * An entry's string fields; `ok` is false after reporting an unknown field, a value that is
 * not a string, or a missing `node` or `sha256`. The readable values come back either way, so
 * their own problems are reported in the same pass.
 */
function readFields(item: YAMLMap, where: string, at: Report): { values: Map<string, string>; ok: boolean } {
  const values = new Map<string, string>();
  const present = new Set<string>();
  let ok = true;
  for (const pair of item.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    present.add(key);
    if (!(ENTRY_FIELDS as readonly string[]).includes(key)) {
      at(pair.key, `${where}: unknown field ${JSON.stringify(key)} (allowed: ${ENTRY_FIELDS.join(', ')})`);
      ok = false;
      continue;
    }
    const value = isScalar(pair.value) ? pair.value.value : undefined;
    if (typeof value !== 'string') {
      at(pair.value ?? pair.key, `${where}.${key}: must be a string`);
      ok = false;
      continue;
    }
    values.set(key, value);
  }
  for (const key of ['node', 'sha256']) {
    if (!present.has(key)) {
      at(item, `${where}: "${key}" is required`);
      ok = false;
    }
  }
  return { values, ok };
}
