/**
 * meshlet's own kinds, `meshlet.io/v1alpha1` Workload and MeshTLS. Their `spec` is exact: every
 * field is known, so any other field is a mistake. `metadata` is a Kubernetes ObjectMeta, since
 * these kinds are also stored as Kubernetes custom resources.
 */
import type { Reporter } from './report.js';
import { isDnsSubdomain, isIanaSvcName, SUBDOMAIN_TEXT } from '../validate/formats.js';
import { checkFields, checkName, optEnum, optLabels, optList, optMap, optPort, optString, optWorkloadIp, requireField } from '../validate/readers.js';
import { type FieldPath, type Fields, formatValue, isFields } from '../validate/values.js';
import {
  MESH_TLS_SELECTOR_FIELDS,
  MESH_TLS_SPEC_FIELDS,
  MESHLET_OBJECT_FIELDS,
  WORKLOAD_PORT_FIELDS,
  WORKLOAD_SPEC_FIELDS,
} from './fields.js';
import { readMeta, SUBDOMAIN_NAME } from './meta.js';
import { DEFAULT_SERVICE_ACCOUNT } from './pod.js';
import { readWorkloadLimits } from './workload-limits.js';
import type { MeshTLSObject, NamedPort, SourceRef, TlsMode, WorkloadObject } from '../types.js';

/** The `meshlet.io` API version meshlet reads. */
export const MESHLET_API_VERSION = 'meshlet.io/v1alpha1';

/** MeshTLS modes. */
export const TLS_MODES: readonly TlsMode[] = ['STRICT', 'PERMISSIVE'];

/** Validates a `meshlet.io/v1alpha1 Workload` document and converts it. */
export function workloadFrom(r: Reporter, obj: Fields, source: SourceRef): WorkloadObject {
  const meta = readMeta(r, obj, 'Workload', true, SUBDOMAIN_NAME);
  checkFields(r, obj, [], MESHLET_OBJECT_FIELDS);
  requireField(r, obj, 'spec', []);
  const spec = optMap(r, obj, 'spec', []) ?? {};
  checkFields(r, spec, ['spec'], WORKLOAD_SPEC_FIELDS);
  requireField(r, spec, 'address', ['spec']);
  const address = optWorkloadIp(r, spec, 'address', ['spec']) ?? '';
  requireField(r, spec, 'node', ['spec']);
  const node = optString(r, spec, 'node', ['spec']) ?? '';
  if (node !== '') checkName(r, node, ['spec', 'node'], isDnsSubdomain, SUBDOMAIN_TEXT);
  const serviceAccount = optString(r, spec, 'serviceAccount', ['spec']) ?? DEFAULT_SERVICE_ACCOUNT;
  checkName(r, serviceAccount, ['spec', 'serviceAccount'], isDnsSubdomain, SUBDOMAIN_TEXT);
  const namedPorts = readWorkloadPorts(r, spec);
  const limits = readWorkloadLimits(r, obj);
  const workload: WorkloadObject = { kind: 'Workload', ...meta, source, address, node, serviceAccount, namedPorts };
  return limits === undefined ? workload : { ...workload, limits };
}

/** `spec.ports`: `{ name, port }` pairs, names unique. */
function readWorkloadPorts(r: Reporter, spec: Fields): NamedPort[] {
  const out: NamedPort[] = [];
  optList(r, spec, 'ports', ['spec']).forEach((entry, i) => {
    const path: FieldPath = ['spec', 'ports', i];
    if (!isFields(entry)) {
      r.report(path, `must be a mapping with name and port, got ${formatValue(entry)}`);
      return;
    }
    checkFields(r, entry, path, WORKLOAD_PORT_FIELDS);
    requireField(r, entry, 'name', path);
    requireField(r, entry, 'port', path);
    const name = optString(r, entry, 'name', path);
    const port = optPort(r, entry, 'port', path);
    if (name !== undefined && !isIanaSvcName(name)) {
      r.report([...path, 'name'], `must be an IANA service name (at most 15 lowercase letters, digits and "-"), got ${formatValue(name)}`);
      return;
    }
    if (name === undefined || port === undefined) return;
    if (out.some((p) => p.name === name)) r.report([...path, 'name'], `duplicate port name ${formatValue(name)}`);
    else out.push({ name, port });
  });
  return out;
}

/** Validates a `meshlet.io/v1alpha1 MeshTLS` document and converts it. */
export function meshTlsFrom(r: Reporter, obj: Fields, source: SourceRef): MeshTLSObject {
  const meta = readMeta(r, obj, 'MeshTLS', true, SUBDOMAIN_NAME);
  checkFields(r, obj, [], MESHLET_OBJECT_FIELDS);
  requireField(r, obj, 'spec', []);
  const spec = optMap(r, obj, 'spec', []) ?? {};
  checkFields(r, spec, ['spec'], MESH_TLS_SPEC_FIELDS);
  requireField(r, spec, 'mode', ['spec']);
  const mode = optEnum(r, spec, 'mode', ['spec'], TLS_MODES) ?? 'STRICT';
  const selector = optMap(r, spec, 'selector', ['spec']);
  const base: MeshTLSObject = { kind: 'MeshTLS', ...meta, source, mode };
  if (selector === undefined) return base;
  checkFields(r, selector, ['spec', 'selector'], MESH_TLS_SELECTOR_FIELDS);
  const matchLabels = optLabels(r, selector, 'matchLabels', ['spec', 'selector']);
  if (Object.keys(matchLabels).length === 0) {
    // An empty selector would read as "select everything" to some and "nothing" to others.
    r.report(['spec', 'selector', 'matchLabels'], 'must name at least one label; omit spec.selector to cover the whole namespace');
  }
  return { ...base, selector: matchLabels };
}
