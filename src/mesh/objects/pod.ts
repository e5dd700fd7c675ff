/**
 * `v1 Pod` validation: the fields meshlet reads are checked, the rest of a real PodSpec and
 * PodStatus is accepted by name.
 */
import type { Reporter } from './report.js';
import { isDnsSubdomain, isIanaSvcName, SUBDOMAIN_TEXT } from '../validate/formats.js';
import { checkFields, checkName, optBool, optEnum, optIp, optList, optMap, optPort, optString, optWorkloadIp, requireField } from '../validate/readers.js';
import { type FieldPath, type Fields, formatValue, isFields } from '../validate/values.js';
import {
  CONTAINER_FIELDS,
  CONTAINER_PORT_FIELDS,
  OBJECT_FIELDS,
  POD_IP_FIELDS,
  POD_PHASES,
  POD_SPEC_FIELDS,
  POD_STATUS_FIELDS,
  PORT_PROTOCOLS,
} from './fields.js';
import { readMeta, SUBDOMAIN_NAME } from './meta.js';
import { readWorkloadLimits } from './workload-limits.js';
import type { NamedPort, PodObject, SourceRef } from '../types.js';

/** Service account of a pod that names none (the Kubernetes default). */
export const DEFAULT_SERVICE_ACCOUNT = 'default';

/** Phases of a pod whose containers have ended: its address is released and may be reused. */
const TERMINATED_PHASES: readonly string[] = ['Succeeded', 'Failed'];

/** Validates a `v1 Pod` document and converts it. */
export function podFrom(r: Reporter, obj: Fields, source: SourceRef): PodObject {
  const meta = readMeta(r, obj, 'Pod', true, SUBDOMAIN_NAME);
  checkFields(r, obj, [], OBJECT_FIELDS);
  const spec = optMap(r, obj, 'spec', []) ?? {};
  checkFields(r, spec, ['spec'], POD_SPEC_FIELDS);
  const nodeName = optString(r, spec, 'nodeName', ['spec']) ?? '';
  if (nodeName !== '') checkName(r, nodeName, ['spec', 'nodeName'], isDnsSubdomain, SUBDOMAIN_TEXT);
  const serviceAccountName = readServiceAccount(r, spec);
  const hostNetwork = optBool(r, spec, 'hostNetwork', ['spec']) ?? false;
  const namedPorts = readContainerPorts(r, spec);
  const addresses = readPodAddresses(r, optMap(r, obj, 'status', []));
  const limits = readWorkloadLimits(r, obj);
  const pod: PodObject = { kind: 'Pod', ...meta, source, nodeName, serviceAccountName, addresses, namedPorts, hostNetwork };
  return limits === undefined ? pod : { ...pod, limits };
}

/** `spec.serviceAccountName`, or its deprecated alias `spec.serviceAccount`, or `default`. */
function readServiceAccount(r: Reporter, spec: Fields): string {
  const current = optString(r, spec, 'serviceAccountName', ['spec']);
  const deprecated = optString(r, spec, 'serviceAccount', ['spec']);
  const name = current ?? deprecated ?? DEFAULT_SERVICE_ACCOUNT;
  const field = current !== undefined ? 'serviceAccountName' : 'serviceAccount';
  checkName(r, name, ['spec', field], isDnsSubdomain, SUBDOMAIN_TEXT);
  return name;
}

/** Named TCP ports of all containers, for Service `targetPort` by name; the first name wins. */
function readContainerPorts(r: Reporter, spec: Fields): NamedPort[] {
  const out: NamedPort[] = [];
  optList(r, spec, 'containers', ['spec']).forEach((container, i) => {
    const path: FieldPath = ['spec', 'containers', i];
    if (!isFields(container)) {
      r.report(path, `must be a mapping, got ${formatValue(container)}`);
      return;
    }
    checkFields(r, container, path, CONTAINER_FIELDS);
    optString(r, container, 'name', path);
    const seen = new Set<string>();
    optList(r, container, 'ports', path).forEach((port, j) => {
      const named = readContainerPort(r, port, [...path, 'ports', j]);
      if (named === undefined) return;
      if (seen.has(named.name)) r.report([...path, 'ports', j, 'name'], `duplicate port name ${formatValue(named.name)}`);
      seen.add(named.name);
      if (!out.some((p) => p.name === named.name)) out.push(named);
    });
  });
  return out;
}

/** One `ContainerPort`; returns it when it is a named TCP port. */
function readContainerPort(r: Reporter, port: unknown, path: FieldPath): NamedPort | undefined {
  if (!isFields(port)) {
    r.report(path, `must be a mapping, got ${formatValue(port)}`);
    return undefined;
  }
  checkFields(r, port, path, CONTAINER_PORT_FIELDS);
  requireField(r, port, 'containerPort', path);
  const number = optPort(r, port, 'containerPort', path);
  const name = optString(r, port, 'name', path);
  if (name !== undefined && !isIanaSvcName(name)) {
    r.report([...path, 'name'], `must be an IANA service name (at most 15 lowercase letters, digits and "-"), got ${formatValue(name)}`);
  }
  const protocol = optEnum(r, port, 'protocol', path, PORT_PROTOCOLS) ?? 'TCP';
  optPort(r, port, 'hostPort', path);
  optIp(r, port, 'hostIP', path);
  if (name === undefined || number === undefined || protocol !== 'TCP') return undefined;
  return { name, port: number };
}

/** `status.podIPs` (or `status.podIP`); empty for a pod without an address or that has ended. */
function readPodAddresses(r: Reporter, status: Fields | undefined): string[] {
  if (status === undefined) return [];
  checkFields(r, status, ['status'], POD_STATUS_FIELDS);
  const phase = optEnum(r, status, 'phase', ['status'], POD_PHASES);
  const podIP = optWorkloadIp(r, status, 'podIP', ['status']);
  const podIPs: string[] = [];
  optList(r, status, 'podIPs', ['status']).forEach((entry, i) => {
    const path: FieldPath = ['status', 'podIPs', i];
    if (!isFields(entry)) {
      r.report(path, `must be a mapping with an ip, got ${formatValue(entry)}`);
      return;
    }
    checkFields(r, entry, path, POD_IP_FIELDS);
    const ip = optWorkloadIp(r, entry, 'ip', path);
    if (ip !== undefined) podIPs.push(ip);
  });
  if (podIP !== undefined && podIPs.length > 0 && podIPs[0] !== podIP) {
    r.report(['status', 'podIPs', 0, 'ip'], `must equal status.podIP ${formatValue(podIP)}, got ${formatValue(podIPs[0])}`);
  }
  if (phase !== undefined && TERMINATED_PHASES.includes(phase)) return [];
  if (podIPs.length > 0) return podIPs;
  return podIP === undefined ? [] : [podIP];
}
