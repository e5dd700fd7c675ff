/**
 * Reading `metadata` (Kubernetes ObjectMeta), shared by every kind.
 */
import type { Reporter } from './report.js';
import { isDns1035Label, isDnsLabel, isDnsSubdomain, LABEL_TEXT, SUBDOMAIN_TEXT } from '../validate/formats.js';
import { checkFields, checkName, optLabels, optMap, optString, reqString } from '../validate/readers.js';
import { formatValue, isFields, type Fields } from '../validate/values.js';
import { OBJECT_META_FIELDS } from './fields.js';

/** How an object's name is checked. */
export interface NameFormat {
  readonly check: (value: string) => boolean;
  readonly text: string;
}

/** Names of most objects (Pod, Node, Workload, MeshTLS). */
export const SUBDOMAIN_NAME: NameFormat = { check: isDnsSubdomain, text: SUBDOMAIN_TEXT };
/** Namespace names. */
export const LABEL_NAME: NameFormat = { check: isDnsLabel, text: LABEL_TEXT };
/** Service names: they become DNS labels, so they must start with a letter. */
export const SERVICE_NAME: NameFormat = {
  check: isDns1035Label,
  text: 'a DNS-1035 label (lowercase letters, digits and "-", starting with a letter)',
};

/** Namespace of a namespaced object that does not name one, as kubectl would apply it. */
export const DEFAULT_NAMESPACE = 'default';

/** The metadata fields meshlet reads. */
export interface Meta {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Reads `metadata` of a `kind` object and names the object on the reporter (`Pod demo/web`),
 * so every later problem line says which object it is about.
 */
export function readMeta(
  r: Reporter,
  obj: Fields,
  kind: string,
  namespaced: boolean,
  nameFormat: NameFormat,
): Meta {
  const meta = optMap(r, obj, 'metadata', []);
  if (meta === undefined) {
    r.object = `${kind} (no name)`;
    if (obj['metadata'] === undefined || obj['metadata'] === null) r.report(['metadata'], 'required');
    return { name: '', namespace: namespaced ? DEFAULT_NAMESPACE : '', labels: {} };
  }
  const rawName = typeof meta['name'] === 'string' ? meta['name'] : '';
  let namespace = '';
  if (namespaced) {
    const rawNamespace = typeof meta['namespace'] === 'string' ? meta['namespace'] : '';
    namespace = rawNamespace === '' ? DEFAULT_NAMESPACE : rawNamespace;
  }
  const shown = rawName === '' ? '(no name)' : rawName;
  r.object = namespaced ? `${kind} ${namespace}/${shown}` : `${kind} ${shown}`;

  checkFields(r, meta, ['metadata'], OBJECT_META_FIELDS);
  const name = reqString(r, meta, 'name', ['metadata']) ?? '';
  if (name !== '') checkName(r, name, ['metadata', 'name'], nameFormat.check, nameFormat.text);
  const ns = optString(r, meta, 'namespace', ['metadata']);
  if (ns !== undefined) {
    if (!namespaced) r.report(['metadata', 'namespace'], `not allowed: ${kind} is cluster-scoped`);
    else checkName(r, ns, ['metadata', 'namespace'], isDnsLabel, LABEL_TEXT);
  }
  // Annotations are not read; a non-mapping there still means the document is not what it seems.
  optMap(r, meta, 'annotations', ['metadata']);
  const labels = optLabels(r, meta, 'labels', ['metadata']);
  return { name, namespace, labels };
}

/**
 * `metadata.creationTimestamp` (RFC 3339, as the API server writes it) in ms since the epoch;
 * 0 when absent (hand-written YAML). Routes and policies use it to break ties: the oldest wins.
 */
export function readCreationTimestamp(r: Reporter, obj: Fields): number {
  const meta = obj['metadata'];
  if (!isFields(meta)) return 0;
  const value = meta['creationTimestamp'];
  if (value === undefined || value === null) return 0;
  // The yaml library may hand a YAML 1.1 timestamp over as a Date.
  const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isFinite(ms) && ms >= 0) return ms;
  r.report(['metadata', 'creationTimestamp'], `must be an RFC 3339 time such as "2024-05-01T12:00:00Z", got ${formatValue(value)}`);
  return 0;
}

/** The string value of annotation `key`, if any (annotations are otherwise not read). */
export function readAnnotation(r: Reporter, obj: Fields, key: string): string | undefined {
  const meta = obj['metadata'];
  if (!isFields(meta) || !isFields(meta['annotations'])) return undefined;
  const value = meta['annotations'][key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  r.report(['metadata', 'annotations', key], `annotation values must be strings (quote it), got ${formatValue(value)}`);
  return undefined;
}
