/**
 * Messages from a data-path worker to the agent's primary (`parseWorkerMessage`), and the
 * credentials check in the worker (`isWireCredentials`). A worker runs the code that parses
 * hostile traffic: the primary must treat what it sends as untrusted. Inputs cross
 * `v8.serialize`/`deserialize`, as on the IPC channel (`serialization: 'advanced'`), so they are
 * exactly the values a worker can send.
 */
import fc from 'fast-check';
import { deserialize, serialize } from 'node:v8';
import { isWireCredentials, parseWorkerMessage, type FromWorker } from '../../../src/agent/workers/protocol.js';
import type { CorpusCodec } from '../corpus.js';
import { holds, noThrow, PropertyBroken } from '../expect.js';
import { edgeValue } from '../mutate.js';
import { property, type FuzzTarget } from '../fuzz-property.js';

const TYPES = ['bound', 'bind-failed', 'need-credentials', 'answer', 'drained', 'launch', 'toString', '__proto__'];
const FIELDS = ['type', 'id', 'identity', 'sni', 'error', 'value', 'outbound', 'inbound', 'tunnel', 'drained', 'forced', 'address', 'family', 'port'];

const address = fc.record(
  { address: fc.oneof(fc.ipV4(), fc.ipV6(), edgeValue()), family: fc.oneof(fc.constantFrom('IPv4', 'IPv6'), edgeValue()), port: fc.oneof(fc.integer({ min: 1, max: 65535 }), edgeValue()) },
  { requiredKeys: [] },
);

/** Message-shaped values: a known type with fields of the right and the wrong kind. */
function messageLike(): fc.Arbitrary<unknown> {
  const field = fc.oneof(edgeValue(), address, fc.array(address, { maxLength: 5 }), fc.string({ maxLength: 600 }), fc.nat());
  return fc
    .tuple(fc.constantFrom(...TYPES), fc.dictionary(fc.constantFrom(...FIELDS), field, { maxKeys: 5 }), fc.boolean())
    .map(([type, fields, typed]) => (typed ? { ...fields, type } : fields));
}

function anyValue(): fc.Arbitrary<unknown> {
  return fc.anything({ maxDepth: 3, withDate: true, withMap: true, withSet: true, withTypedArray: true, withBigInt: true, withNullPrototype: true, withSparseArray: true });
}

/** Inputs stored as the bytes the channel carries (v8 serialization keeps every type). */
const channelCodec: CorpusCodec<unknown> = {
  ext: '.v8',
  encode: (value) => {
    try {
      return serialize(value);
    } catch {
      return undefined;
    }
  },
  decode: (data) => deserialize(data) as unknown,
};

/** What the channel delivers for `value`. */
function overChannel(value: unknown): unknown {
  return deserialize(serialize(value)) as unknown;
}

function isString(v: unknown, max: number): boolean {
  return typeof v === 'string' && v.length <= max;
}

function isAddress(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const a = v as Record<string, unknown>;
  return isString(a['address'], 64) && isString(a['family'], 8) && Number.isInteger(a['port']) && (a['port'] as number) >= 1 && (a['port'] as number) <= 65535;
}

function isId(v: unknown): boolean {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/** What the primary's handlers rely on, written independently of worker-protocol.ts. */
function accepted(m: FromWorker): string | undefined {
  const o = m as unknown as Record<string, unknown>;
  switch (m.type) {
    case 'bound':
      return [o['outbound'], o['inbound']].every((l) => Array.isArray(l) && l.length <= 4 && l.every(isAddress)) && isAddress(o['tunnel']) ? undefined : 'bound with bad addresses';
    case 'bind-failed':
      return typeof o['error'] === 'string' ? undefined : 'bind-failed without an error string';
    case 'need-credentials': {
      // worker-pool.ts takes `identity` when it is not undefined, else `sni`: exactly one must
      // be a string and the other absent.
      const id = o['identity'];
      const sni = o['sni'];
      const one = (isString(id, 512) && sni === undefined) || (isString(sni, 256) && id === undefined);
      return isId(o['id']) && one ? undefined : 'need-credentials without one string identity or sni';
    }
    case 'answer':
      return isId(o['id']) && (o['error'] === undefined || typeof o['error'] === 'string') ? undefined : 'answer with bad id or error';
    case 'drained':
      return isId(o['drained']) && typeof o['forced'] === 'boolean' ? undefined : 'drained with bad fields';
    default:
      return `accepted unknown type ${String((m as { type: unknown }).type)}`;
  }
}

function checkFromWorker(input: unknown): void {
  let value: unknown;
  try {
    value = overChannel(input);
  } catch {
    return; // not something a worker can send
  }
  const result = noThrow(() => parseWorkerMessage(value), 'parseWorkerMessage');
  if (typeof result === 'string') {
    holds(result.length > 0 && result.length <= 200, `reason of ${result.length} characters`);
    return;
  }
  holds(result === value, 'an accepted message is the value itself');
  const why = accepted(result);
  if (why !== undefined) throw new PropertyBroken(`parseWorkerMessage accepted a malformed message: ${why}`);
}

function credentialsLike(): fc.Arbitrary<unknown> {
  const date = fc.oneof(fc.date(), edgeValue());
  return fc.record(
    {
      identity: fc.oneof(fc.string({ maxLength: 600 }), edgeValue()),
      chainPem: fc.oneof(fc.string(), edgeValue()),
      keyPem: fc.oneof(fc.string(), edgeValue()),
      trustBundlePem: fc.oneof(fc.string(), edgeValue()),
      serial: fc.oneof(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 200 }), edgeValue()),
      notBefore: date,
      notAfter: date,
      sni: fc.oneof(fc.string({ maxLength: 300 }), edgeValue()),
    },
    { requiredKeys: [] },
  );
}

function checkCredentials(input: unknown): void {
  let value: unknown;
  try {
    value = overChannel(input);
  } catch {
    return;
  }
  if (!noThrow(() => isWireCredentials(value), 'isWireCredentials')) return;
  const c = value as Record<string, unknown>;
  for (const key of ['identity', 'chainPem', 'keyPem', 'trustBundlePem', 'serial', 'sni']) holds(typeof c[key] === 'string', `accepted credentials with ${key} not a string`);
  holds(c['notBefore'] instanceof Date && c['notAfter'] instanceof Date, 'accepted credentials without dates');
}

/** Worker IPC validation. */
export function workerIpcTarget(): FuzzTarget {
  const addr = { address: '127.0.0.1', family: 'IPv4', port: 15001 };
  return {
    name: 'worker-ipc',
    description: 'worker -> primary IPC messages (parseWorkerMessage) and credentials (isWireCredentials), through v8 serialization',
    properties: [
      property({
        name: 'from-worker',
        weight: 3,
        arbitrary: fc.oneof(messageLike(), anyValue()),
        check: checkFromWorker,
        codec: channelCodec,
        seeds: () => [
          { type: 'bound', outbound: [addr], inbound: [addr], tunnel: addr },
          { type: 'need-credentials', id: 1, identity: 'spiffe://cluster.local/ns/a/sa/b' },
          { type: 'need-credentials', id: 2, sni: 'abc.id.meshlet' },
          { type: 'answer', id: 3, value: [1, 2] },
          { type: 'drained', drained: 3, forced: false },
        ],
      }),
      property({
        name: 'credentials',
        weight: 1,
        arbitrary: fc.oneof(credentialsLike(), anyValue()),
        check: checkCredentials,
        codec: channelCodec,
      }),
    ],
  };
}
