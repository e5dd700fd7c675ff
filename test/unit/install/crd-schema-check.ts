/**
 * A small checker for CustomResourceDefinition OpenAPI v3 schemas: whether a schema is
 * structural (what the API server requires of a v1 CRD), and whether an object satisfies it.
 * It covers the keywords meshlet's CRDs use and refuses any other, so a schema cannot grow a
 * keyword this checker silently ignores. Unknown fields are reported (the API server would
 * prune them: for meshlet's exact specs that is a mistake either way).
 */
import { isIPv4, isIPv6 } from 'node:net';

/** A schema node, as decoded from YAML. */
export type Schema = Readonly<Record<string, unknown>>;

const KEYWORDS = new Set([
  'type', 'description', 'properties', 'required', 'items', 'additionalProperties', 'enum',
  'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'minProperties', 'anyOf', 'format',
  'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-preserve-unknown-fields',
]);
/** What the API server forbids inside anyOf/allOf/oneOf/not of a structural schema. */
const NOT_IN_JUNCTORS = ['type', 'description', 'default', 'additionalProperties', 'nullable'];
const FORMATS: Record<string, (s: string) => boolean> = { ipv4: isIPv4, ipv6: isIPv6 };

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const asSchema = (v: unknown): Schema => (isMap(v) ? v : {});

/** Why `schema` is not a structural schema meshlet's checker understands; empty when it is. */
export function structuralProblems(schema: Schema, path = '', inJunctor = false): string[] {
  const out: string[] = [];
  for (const key of Object.keys(schema)) if (!KEYWORDS.has(key)) out.push(`${path || '/'}: keyword ${key} is not supported here`);
  if (inJunctor) {
    for (const k of NOT_IN_JUNCTORS) if (k in schema) out.push(`${path}: ${k} is not allowed inside anyOf`);
  } else if (typeof schema['type'] !== 'string') {
    out.push(`${path || '/'}: every node of a structural schema needs a type`);
  }
  for (const [name, sub] of Object.entries(asSchema(schema['properties']))) out.push(...structuralProblems(asSchema(sub), `${path}/${name}`));
  if (schema['items'] !== undefined) out.push(...structuralProblems(asSchema(schema['items']), `${path}[]`));
  if (isMap(schema['additionalProperties'])) out.push(...structuralProblems(schema['additionalProperties'], `${path}/*`));
  if (Array.isArray(schema['anyOf'])) schema['anyOf'].forEach((s, i) => out.push(...structuralProblems(asSchema(s), `${path}(anyOf ${i})`, true)));
  return out;
}

function typeProblem(value: unknown, type: unknown): string | undefined {
  const ok =
    type === 'object' ? isMap(value)
    : type === 'array' ? Array.isArray(value)
    : type === 'string' ? typeof value === 'string'
    : type === 'integer' ? Number.isInteger(value)
    : type === 'number' ? typeof value === 'number'
    : type === 'boolean' ? typeof value === 'boolean'
    : false;
  return ok ? undefined : `must be of type ${String(type)}, got ${JSON.stringify(value)}`;
}

function scalarProblems(value: unknown, s: Schema): string[] {
  const out: string[] = [];
  if (Array.isArray(s['enum']) && !s['enum'].includes(value)) out.push(`must be one of ${s['enum'].join(', ')}`);
  if (typeof value === 'string') {
    if (typeof s['pattern'] === 'string' && !new RegExp(s['pattern'], 'u').test(value)) out.push(`must match ${s['pattern']}`);
    if (typeof s['minLength'] === 'number' && value.length < s['minLength']) out.push(`must be at least ${s['minLength']} characters`);
    if (typeof s['maxLength'] === 'number' && value.length > s['maxLength']) out.push(`must be at most ${s['maxLength']} characters`);
    const format = typeof s['format'] === 'string' ? FORMATS[s['format']] : undefined;
    if (format !== undefined && !format(value)) out.push(`must be a valid ${String(s['format'])}`);
  }
  if (typeof value === 'number') {
    if (typeof s['minimum'] === 'number' && value < s['minimum']) out.push(`must be >= ${s['minimum']}`);
    if (typeof s['maximum'] === 'number' && value > s['maximum']) out.push(`must be <= ${s['maximum']}`);
  }
  return out;
}

function objectProblems(value: Record<string, unknown>, s: Schema, path: string): string[] {
  const out: string[] = [];
  const props = asSchema(s['properties']);
  const extra = s['additionalProperties'];
  for (const name of Array.isArray(s['required']) ? s['required'] : []) {
    if (!(String(name) in value)) out.push(`${path}/${String(name)}: required`);
  }
  if (typeof s['minProperties'] === 'number' && Object.keys(value).length < s['minProperties']) {
    out.push(`${path || '/'}: must have at least ${s['minProperties']} entries`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (k in props) out.push(...schemaProblems(v, asSchema(props[k]), `${path}/${k}`));
    else if (isMap(extra)) out.push(...schemaProblems(v, extra, `${path}/${k}`));
    else if (s['properties'] !== undefined && s['x-kubernetes-preserve-unknown-fields'] !== true) out.push(`${path}/${k}: unknown field (the API server would prune it)`);
  }
  return out;
}

/** Why `value` does not satisfy `schema`, each with its JSON path; empty when it does. */
export function schemaProblems(value: unknown, schema: Schema, path = ''): string[] {
  if (schema['type'] !== undefined) {
    const problem = typeProblem(value, schema['type']);
    if (problem !== undefined) return [`${path || '/'}: ${problem}`];
  }
  const out = scalarProblems(value, schema).map((p) => `${path || '/'}: ${p}`);
  if (Array.isArray(schema['anyOf'])) {
    const branches = schema['anyOf'].map((b) => schemaProblems(value, asSchema(b), path));
    if (!branches.some((b) => b.length === 0)) out.push(`${path || '/'}: matches no anyOf branch (${branches.flat().join('; ')})`);
  }
  if (isMap(value)) out.push(...objectProblems(value, schema, path));
  if (Array.isArray(value) && schema['items'] !== undefined) {
    value.forEach((v, i) => out.push(...schemaProblems(v, asSchema(schema['items']), `${path}/${i}`)));
  }
  return out;
}
