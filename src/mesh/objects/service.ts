/**
 * `v1 Service` validation: cluster IPs, selector and ports are checked; the rest of a real
 * ServiceSpec is accepted by name. Only TCP ports are kept: UDP and SCTP ports are valid but
 * meshlet does not capture them.
 */
import type { Reporter } from './report.js';
import { isDnsLabel, isIanaSvcName, isIpAddress, isPortNumber, LABEL_TEXT } from '../validate/formats.js';
import { checkFields, checkName, checkWorkloadIp, optEnum, optLabels, optList, optMap, optPort, optString, requireField } from '../validate/readers.js';
import { type FieldPath, type Fields, formatValue, isFields } from '../validate/values.js';
import { OBJECT_FIELDS, PORT_PROTOCOLS, SERVICE_PORT_FIELDS, SERVICE_SPEC_FIELDS } from './fields.js';
import { readAnnotation, readMeta, SERVICE_NAME } from './meta.js';
import { OPAQUE_PORTS_ANNOTATION, type ServiceObject, type ServicePort, type SourceRef } from '../types.js';

/** `clusterIP` value of a headless Service. */
const HEADLESS = 'None';

/** Validates a `v1 Service` document and converts it. */
export function serviceFrom(r: Reporter, obj: Fields, source: SourceRef): ServiceObject {
  const meta = readMeta(r, obj, 'Service', true, SERVICE_NAME);
  checkFields(r, obj, [], OBJECT_FIELDS);
  const spec = optMap(r, obj, 'spec', []) ?? {};
  checkFields(r, spec, ['spec'], SERVICE_SPEC_FIELDS);
  const selector = optLabels(r, spec, 'selector', ['spec']);
  const clusterIPs = readClusterIPs(r, spec);
  const ports = readServicePorts(r, spec);
  optMap(r, obj, 'status', []);
  const opaquePorts = readOpaquePorts(r, obj, ports);
  let service: ServiceObject = { kind: 'Service', ...meta, source, clusterIPs, ports };
  if (opaquePorts !== undefined) service = { ...service, opaquePorts };
  // An empty selector selects nothing in Kubernetes (endpoints are managed by hand).
  return Object.keys(selector).length > 0 ? { ...service, selector } : service;
}

/**
 * The `meshlet.io/opaque-ports` annotation: Service port numbers, comma-separated
 * (`"3306, 5432"`), each a port of the Service. Sorted, without duplicates.
 */
function readOpaquePorts(r: Reporter, obj: Fields, ports: readonly ServicePort[]): number[] | undefined {
  const text = readAnnotation(r, obj, OPAQUE_PORTS_ANNOTATION);
  if (text === undefined) return undefined;
  const path: FieldPath = ['metadata', 'annotations', OPAQUE_PORTS_ANNOTATION];
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const item = part.trim();
    const n = /^\d{1,5}$/.test(item) ? Number(item) : NaN;
    if (!isPortNumber(n)) r.report(path, `must be port numbers separated by commas, e.g. "3306,5432"; ${formatValue(item)} is not a port number 1..65535`);
    else if (!ports.some((p) => p.port === n)) r.report(path, `${n} is not a TCP port of the Service (${ports.map((p) => p.port).join(', ') || 'none'})`);
    else out.add(n);
  }
  return [...out].sort((a, b) => a - b);
}

/** `spec.clusterIPs` or `spec.clusterIP`; empty when headless (`None`) or unassigned. */
function readClusterIPs(r: Reporter, spec: Fields): string[] {
  const single = optString(r, spec, 'clusterIP', ['spec']);
  if (single !== undefined && single !== HEADLESS && !isIpAddress(single)) {
    r.report(['spec', 'clusterIP'], `must be an IP address or "None" (headless), got ${formatValue(single)}`);
  } else if (single !== undefined && single !== HEADLESS) {
    // A VIP is captured and routed by the agent: never loopback, link-local (the metadata
    // service), multicast, ..., or pods' traffic to those would be sent to this Service.
    checkWorkloadIp(r, single, ['spec', 'clusterIP']);
  }
  const list: string[] = [];
  optList(r, spec, 'clusterIPs', ['spec']).forEach((ip, i) => {
    const ok = typeof ip === 'string' && (isIpAddress(ip) || (ip === HEADLESS && i === 0));
    if (!ok) r.report(['spec', 'clusterIPs', i], `must be an IP address (or "None" alone), got ${formatValue(ip)}`);
    else if (ip === HEADLESS || checkWorkloadIp(r, ip, ['spec', 'clusterIPs', i])) list.push(ip);
  });
  if (single !== undefined && list.length > 0 && list[0] !== single) {
    r.report(['spec', 'clusterIPs', 0], `must equal spec.clusterIP ${formatValue(single)}, got ${formatValue(list[0])}`);
  }
  const ips = list.length > 0 ? list : single === undefined ? [] : [single];
  return ips.filter((ip) => ip !== HEADLESS && isIpAddress(ip));
}

/** `spec.ports`, TCP only; names are required and unique when there are several. */
function readServicePorts(r: Reporter, spec: Fields): ServicePort[] {
  const raw = optList(r, spec, 'ports', ['spec']);
  const names = new Set<string>();
  const numbers = new Set<string>();
  const out: ServicePort[] = [];
  raw.forEach((entry, i) => {
    const path: FieldPath = ['spec', 'ports', i];
    if (!isFields(entry)) {
      r.report(path, `must be a mapping, got ${formatValue(entry)}`);
      return;
    }
    const { value, name, protocol } = readServicePort(r, entry, path, raw.length > 1);
    if (name !== undefined) {
      if (names.has(name)) r.report([...path, 'name'], `duplicate port name ${formatValue(name)}`);
      names.add(name);
    }
    if (value === undefined) return;
    const key = `${value.port}/${protocol}`;
    if (numbers.has(key)) r.report([...path, 'port'], `duplicate port ${key}`);
    numbers.add(key);
    if (protocol === 'TCP') out.push(value);
  });
  return out;
}

/** One `ServicePort` (undefined when its port is bad), with its protocol for duplicate checks. */
function readServicePort(
  r: Reporter,
  entry: Fields,
  path: FieldPath,
  several: boolean,
): { value: ServicePort | undefined; name: string | undefined; protocol: string } {
  checkFields(r, entry, path, SERVICE_PORT_FIELDS);
  requireField(r, entry, 'port', path);
  const port = optPort(r, entry, 'port', path);
  const name = optString(r, entry, 'name', path);
  if (name !== undefined) checkName(r, name, [...path, 'name'], isDnsLabel, LABEL_TEXT);
  else if (several) r.report([...path, 'name'], 'required when a Service has several ports');
  const protocol = optEnum(r, entry, 'protocol', path, PORT_PROTOCOLS) ?? 'TCP';
  const appProtocol = optString(r, entry, 'appProtocol', path);
  optPort(r, entry, 'nodePort', path);
  const targetPort = readTargetPort(r, entry, path);
  if (port === undefined) return { value: undefined, name, protocol };
  let value: ServicePort = { port, targetPort: targetPort ?? port };
  if (name !== undefined) value = { name, ...value };
  if (appProtocol !== undefined) value = { ...value, appProtocol };
  return { value, name, protocol };
}

/** `targetPort`: a port number, or an IANA service name naming a container port. */
function readTargetPort(r: Reporter, entry: Fields, path: FieldPath): number | string | undefined {
  const value = entry['targetPort'];
  if (value === undefined || value === null) return undefined;
  if (isPortNumber(value) || (typeof value === 'string' && isIanaSvcName(value))) return value;
  const hint = typeof value === 'string' && /^\d+$/.test(value) ? ' (write the number without quotes)' : '';
  r.report(
    [...path, 'targetPort'],
    `must be a port number 1..65535 or a port name (IANA service name), got ${formatValue(value)}${hint}`,
  );
  return undefined;
}
