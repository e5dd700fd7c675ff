/**
 * The fuzzing corpus, kept in the repository: `test/fuzz/corpus/<target>/<property>/<file>`.
 * `seed-*` files are valid inputs (from the fixtures), `crash-*` files are inputs that once
 * broke a property. Every file is replayed before any generated input, on every run.
 *
 * Files are the inputs themselves where that reads well (YAML text, iptables-save text, raw
 * bytes) and JSON otherwise; a string that UTF-8 cannot hold (a lone surrogate) is kept as a
 * JSON string in `<name>.str.json`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/test/fuzz/ -> the source tree's test/fuzz/corpus/ (the corpus is not copied to dist). */
export const CORPUS_DIR = fileURLToPath(new URL('../../../test/fuzz/corpus/', import.meta.url));

/** How one property's inputs are stored. */
export interface CorpusCodec<T> {
  /** File name extension, with the dot. */
  readonly ext: string;
  /** The file's bytes, or undefined when this codec cannot hold `value` (then: tagged JSON). */
  encode(value: T): Buffer | undefined;
  decode(data: Buffer): T;
}

const STRING_FALLBACK = '.str.json';

/** Text stored as it is (UTF-8). */
export function textCodec(ext: string): CorpusCodec<string> {
  return {
    ext,
    encode: (s) => {
      const data = Buffer.from(s, 'utf8');
      return data.toString('utf8') === s ? data : undefined;
    },
    decode: (data) => data.toString('utf8'),
  };
}

/** Bytes stored as they are. */
export const bytesCodec: CorpusCodec<Uint8Array> = {
  ext: '.bin',
  encode: (b) => Buffer.from(b),
  decode: (data) => new Uint8Array(data),
};

/**
 * JSON with tags for what JSON lacks: `{"$bytes": base64}`, `{"$date": iso}`,
 * `{"$undefined": true}`, `{"$number": "NaN" | "Infinity" | "-Infinity" | "-0"}`,
 * `{"$bigint": "123"}`, `{"$map": [[k, v]...]}`, `{"$set": [...]}`; an object whose own key
 * starts with `$` is wrapped as `{"$object": {...}}`.
 */
export const valueCodec: CorpusCodec<unknown> = {
  ext: '.json',
  encode: (value) => Buffer.from(`${JSON.stringify(toTagged(value), null, 2)}\n`, 'utf8'),
  decode: (data) => fromTagged(JSON.parse(data.toString('utf8')) as unknown),
};

/** The same codec typed for one property's input type (inputs are whatever JSON held). */
export function typedValueCodec<T>(): CorpusCodec<T> {
  return valueCodec as CorpusCodec<T>;
}

function toTagged(value: unknown): unknown {
  if (value === undefined) return { $undefined: true };
  if (typeof value === 'number') {
    if (Object.is(value, -0)) return { $number: '-0' };
    return Number.isFinite(value) ? value : { $number: String(value) };
  }
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') };
  if (value instanceof Date) return { $date: Number.isNaN(value.getTime()) ? null : value.toISOString() };
  if (value instanceof Map) return { $map: [...value].map(([k, v]) => [toTagged(k), toTagged(v)]) };
  if (value instanceof Set) return { $set: [...value].map(toTagged) };
  if (Array.isArray(value)) return Array.from(value, toTagged);
  const out: Record<string, unknown> = {};
  let dollar = false;
  for (const key of Object.keys(value)) {
    dollar ||= key.startsWith('$');
    Object.defineProperty(out, key, { value: toTagged((value as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true });
  }
  return dollar ? { $object: out } : out;
}

function fromTagged(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(fromTagged);
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    const v = o[keys[0] as string];
    switch (keys[0]) {
      case '$undefined':
        return undefined;
      case '$number':
        return v === '-0' ? -0 : Number(v);
      case '$bigint':
        return BigInt(v as string);
      case '$bytes':
        return new Uint8Array(Buffer.from(v as string, 'base64'));
      case '$date':
        return new Date(v === null ? Number.NaN : (v as string));
      case '$map':
        return new Map((v as [unknown, unknown][]).map(([k, x]) => [fromTagged(k), fromTagged(x)]));
      case '$set':
        return new Set((v as unknown[]).map(fromTagged));
      case '$object':
        return plainFrom(v as Record<string, unknown>);
      default:
    }
  }
  return plainFrom(o);
}

/** A plain object with the same own keys (`__proto__` included, as an own key). */
function plainFrom(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(o)) {
    Object.defineProperty(out, key, { value: fromTagged(o[key]), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** One stored input. */
export interface CorpusEntry<T> {
  readonly file: string;
  readonly value: T;
}

/** The folder of one property's corpus. */
export function corpusDir(target: string, prop: string, root = CORPUS_DIR): string {
  return join(root, target, prop);
}

/** Every stored input of a property, sorted by file name (seeds and crashes alike). */
export function readCorpus<T>(codec: CorpusCodec<T>, dir: string): CorpusEntry<T>[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => !f.startsWith('.') && f !== 'README.md')
    .sort()
    .map((file) => {
      const data = readFileSync(join(dir, file));
      const value = file.endsWith(STRING_FALLBACK) ? (JSON.parse(data.toString('utf8')) as T) : codec.decode(data);
      return { file, value };
    });
}

/**
 * Writes `value` as `<prefix>-<hash>`; returns the path, or undefined when an identical file
 * was there already. The name is a digest of the content: a crash found twice is kept once.
 */
export function writeCorpus<T>(codec: CorpusCodec<T>, dir: string, prefix: 'seed' | 'crash', value: T): string | undefined {
  let data = codec.encode(value);
  let ext = codec.ext;
  if (data === undefined) {
    data = Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
    ext = STRING_FALLBACK;
  }
  const name = `${prefix}-${createHash('sha256').update(data).digest('hex').slice(0, 12)}${ext}`;
  const path = join(dir, name);
  if (existsSync(path)) return undefined;
  mkdirSync(dir, { recursive: true });
  writeFileSync(path, data);
  return path;
}
