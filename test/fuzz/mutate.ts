/**
 * Structure-aware arbitraries: valid inputs (fixtures) with a few mutations each, so most
 * inputs get past the first checks and exercise the deep ones. Mutations are plain data chosen
 * by fast-check, so a failing input shrinks to the fewest, smallest mutations.
 */
import fc from 'fast-check';

/** Values that sit on the edges of what meshlet's fields accept. */
export function edgeValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom<unknown>(0, -1, 1, 65535, 65536, 1.5, 2 ** 53, Number.NaN, '', ' ', '0', '80', 'None', 'null', '~', null, true, false, [], {}) },
    {
      weight: 3,
      arbitrary: fc.constantFrom<unknown>(
        '127.0.0.1', '0.0.0.0', '::', '::1', '169.254.169.254', '::ffff:127.0.0.1', 'fe80::1%eth0', '10.0.0.999', '1.2.3', '198.18.1.2/32',
        '2001:db8::1', 'localhost', 'UPPER', 'a'.repeat(64), 'a'.repeat(254), 'x-', '-x', 'a.b', 'a_b', 'spiffe://cluster.local/ns/a/sa/b',
        'spiffe://evil/ns/a/sa/b', 'STRICT', 'PERMISSIVE', 'Pod', 'Workload', 'meshlet.io/mesh', 'enabled', 'disabled', 'TCP', 'UDP', 'http',
        '__proto__', 'constructor', 'toString', 'hasOwnProperty',
      ),
    },
    { weight: 2, arbitrary: fc.string({ maxLength: 20 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 10 }) },
    { weight: 2, arbitrary: fc.integer({ min: -70000, max: 70000 }) },
    { weight: 1, arbitrary: fc.double() },
    { weight: 1, arbitrary: fc.ipV4() },
    { weight: 1, arbitrary: fc.ipV6() },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 2, maxKeys: 3 }) },
  );
}

/** One edit of a JSON-like value: walk to a node by `picks`, then change it. */
export interface ValueMutation {
  readonly picks: readonly number[];
  readonly op: 'replace' | 'delete' | 'insert' | 'duplicate' | 'rename';
  readonly value: unknown;
  readonly key: string;
}

function valueMutation(): fc.Arbitrary<ValueMutation> {
  return fc.record({
    picks: fc.array(fc.nat(), { maxLength: 8 }),
    op: fc.constantFrom<ValueMutation['op']>('replace', 'replace', 'delete', 'insert', 'duplicate', 'rename'),
    value: edgeValue(),
    key: fc.oneof(fc.constantFrom('name', 'namespace', 'labels', 'spec', 'status', 'ports', 'port', 'extra', '__proto__', 'apiVersion', 'kind'), fc.string({ maxLength: 8 })),
  });
}

type Container = Record<string, unknown> | unknown[];

function isContainer(v: unknown): v is Container {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !(v instanceof Date);
}

function setKey(o: Container, key: string | number, value: unknown): void {
  if (Array.isArray(o)) o[Number(key)] = value;
  else Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Applies `m` to `root` in place (root must be a fresh copy). Returns the new root. */
export function applyValueMutation(root: unknown, m: ValueMutation): unknown {
  let parent: Container | undefined;
  let key: string | number = '';
  let node = root;
  for (const pick of m.picks) {
    if (!isContainer(node)) break;
    const keys: (string | number)[] = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0) break;
    parent = node;
    key = keys[pick % keys.length] as string | number;
    node = Array.isArray(node) ? node[key as number] : node[key as string];
  }
  const value = structuredClone(m.value);
  if (parent === undefined) {
    // At the root: only edits inside it make sense, except a replacement.
    if (m.op === 'replace') return value;
    parent = isContainer(root) ? root : undefined;
    if (parent === undefined) return root;
    key = Array.isArray(parent) ? 0 : m.key;
    node = Array.isArray(parent) ? parent[0] : parent[key];
  }
  switch (m.op) {
    case 'replace':
      setKey(parent, key, value);
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key as string];
      break;
    case 'insert':
      if (Array.isArray(parent)) parent.splice(Number(key), 0, value);
      else setKey(parent, m.key, value);
      break;
    case 'duplicate':
      if (Array.isArray(parent)) parent.splice(Number(key), 0, structuredClone(node));
      else setKey(parent, `${String(key)}2`, structuredClone(node));
      break;
    case 'rename':
      if (!Array.isArray(parent)) {
        delete parent[key as string];
        setKey(parent, m.key, node);
      }
      break;
  }
  return root;
}

/** A seed (by index) with up to `max` mutations applied, and the seed's index. */
export function mutatedSeed<T>(seeds: readonly T[], max = 4): fc.Arbitrary<{ readonly seed: number; readonly value: unknown }> {
  return fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(valueMutation(), { minLength: 1, maxLength: max }))
    .map(([i, mutations]) => ({ seed: i, value: mutations.reduce((v, m) => applyValueMutation(v, m), structuredClone(seeds[i]) as unknown) }));
}

/** A seed with up to `max` mutations applied. */
export function mutatedValue<T>(seeds: readonly T[], max = 4): fc.Arbitrary<unknown> {
  return mutatedSeed(seeds, max).map((m) => m.value);
}

/** One edit of a text. Positions are fractions of the length, so they shrink toward the start. */
interface TextMutation {
  readonly at: number;
  readonly len: number;
  readonly op: 'insert' | 'delete' | 'replace' | 'splice' | 'dup-line' | 'flip';
  readonly text: string;
  readonly from: number;
}

function textMutation(tokens: readonly string[]): fc.Arbitrary<TextMutation> {
  return fc.record({
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    len: fc.nat({ max: 40 }),
    op: fc.constantFrom<TextMutation['op']>('insert', 'delete', 'replace', 'splice', 'dup-line', 'flip'),
    text: fc.oneof(fc.constantFrom(...tokens), fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 4 })),
    from: fc.nat(),
  });
}

function applyTextMutation(text: string, m: TextMutation, seeds: readonly string[]): string {
  const at = Math.floor(m.at * text.length);
  switch (m.op) {
    case 'insert':
      return text.slice(0, at) + m.text + text.slice(at);
    case 'delete':
      return text.slice(0, at) + text.slice(at + m.len);
    case 'replace':
      return text.slice(0, at) + m.text + text.slice(at + m.text.length);
    case 'splice': {
      const other = seeds[m.from % seeds.length] ?? '';
      const start = m.from % Math.max(1, other.length);
      return text.slice(0, at) + other.slice(start, start + m.len) + text.slice(at);
    }
    case 'dup-line': {
      const start = text.lastIndexOf('\n', at - 1) + 1;
      const end = text.indexOf('\n', at);
      const line = text.slice(start, end === -1 ? text.length : end + 1);
      return text.slice(0, start) + line + text.slice(start);
    }
    case 'flip':
      return at < text.length ? text.slice(0, at) + String.fromCharCode(text.charCodeAt(at) ^ (1 << (m.len % 7))) + text.slice(at + 1) : text;
  }
}

/** A seed text with up to `max` edits; `tokens` are inserted often (the format's own words). */
export function mutatedText(seeds: readonly string[], tokens: readonly string[], max = 6): fc.Arbitrary<string> {
  return fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(textMutation(tokens), { minLength: 1, maxLength: max }))
    .map(([i, mutations]) => mutations.reduce((t, m) => applyTextMutation(t, m, seeds), seeds[i] ?? ''));
}

/** One edit of bytes: overwrite, insert, delete or truncate. */
interface ByteMutation {
  readonly at: number;
  readonly op: 'set' | 'insert' | 'delete' | 'truncate';
  readonly bytes: Uint8Array;
}

/** Seed bytes with up to `max` byte edits. */
export function mutatedBytes(seeds: readonly Uint8Array[], max = 4): fc.Arbitrary<Uint8Array> {
  const mutation = fc.record({
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    op: fc.constantFrom<ByteMutation['op']>('set', 'set', 'insert', 'delete', 'truncate'),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  });
  return fc.tuple(fc.nat({ max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: max })).map(([i, mutations]) => {
    let b = Buffer.from(seeds[i] ?? new Uint8Array());
    for (const m of mutations) {
      const at = Math.floor(m.at * b.length);
      if (m.op === 'set') {
        b = Buffer.from(b);
        Buffer.from(m.bytes).copy(b, at);
      } else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
      else if (m.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.bytes.length)]);
      else b = b.subarray(0, at);
    }
    return new Uint8Array(b);
  });
}
