/**
 * Cluster-scoped kinds: `v1 Namespace` (meshlet reads its labels) and `v1 Node` (meshlet reads
 * its InternalIP, the address other agents tunnel to).
 */
import type { Reporter } from './report.js';
import { isIpAddress } from '../validate/formats.js';
import { checkFields, optEnum, optList, optMap, reqString, requireField } from '../validate/readers.js';
import { type FieldPath, type Fields, formatValue, isFields } from '../validate/values.js';
import { NODE_ADDRESS_FIELDS, NODE_ADDRESS_TYPES, NODE_STATUS_FIELDS, OBJECT_FIELDS } from './fields.js';
import { LABEL_NAME, readMeta, SUBDOMAIN_NAME } from './meta.js';
import { ZONE_LABEL, type NamespaceObject, type NodeObject, type SourceRef } from '../types.js';

/** Validates a `v1 Namespace` document and converts it. `spec` and `status` are not read. */
export function namespaceFrom(r: Reporter, obj: Fields, source: SourceRef): NamespaceObject {
  const meta = readMeta(r, obj, 'Namespace', false, LABEL_NAME);
  checkFields(r, obj, [], OBJECT_FIELDS);
  optMap(r, obj, 'spec', []);
  optMap(r, obj, 'status', []);
  return { kind: 'Namespace', name: meta.name, labels: meta.labels, source };
}

/** Address types whose value must be an IP address. */
const IP_ADDRESS_TYPES: readonly string[] = ['InternalIP', 'ExternalIP'];

/** Validates a `v1 Node` document and converts it. `spec` is not read. */
export function nodeFrom(r: Reporter, obj: Fields, source: SourceRef): NodeObject {
  const meta = readMeta(r, obj, 'Node', false, SUBDOMAIN_NAME);
  checkFields(r, obj, [], OBJECT_FIELDS);
  optMap(r, obj, 'spec', []);
  const status = optMap(r, obj, 'status', []) ?? {};
  checkFields(r, status, ['status'], NODE_STATUS_FIELDS);
  const addresses: string[] = [];
  optList(r, status, 'addresses', ['status']).forEach((entry, i) => {
    const address = readNodeAddress(r, entry, ['status', 'addresses', i]);
    if (address !== undefined) addresses.push(address);
  });
  const zone = meta.labels[ZONE_LABEL];
  const node: NodeObject = { kind: 'Node', name: meta.name, labels: meta.labels, source, addresses };
  return zone === undefined || zone === '' ? node : { ...node, zone };
}

/** One `NodeAddress`; returns the address when it is an InternalIP. */
function readNodeAddress(r: Reporter, entry: unknown, path: FieldPath): string | undefined {
  if (!isFields(entry)) {
    r.report(path, `must be a mapping with type and address, got ${formatValue(entry)}`);
    return undefined;
  }
  checkFields(r, entry, path, NODE_ADDRESS_FIELDS);
  requireField(r, entry, 'type', path);
  const type = optEnum(r, entry, 'type', path, NODE_ADDRESS_TYPES);
  const address = reqString(r, entry, 'address', path);
  if (address === undefined || type === undefined || !IP_ADDRESS_TYPES.includes(type)) return undefined;
  if (!isIpAddress(address)) {
    r.report([...path, 'address'], `must be an IPv4 or IPv6 address for ${type}, got ${formatValue(address)}`);
    return undefined;
  }
  return type === 'InternalIP' ? address : undefined;
}
