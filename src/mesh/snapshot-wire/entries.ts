/**
 * Decoding the entries of a cluster view: workloads and Services with their ports and
 * endpoints. Each returns a fresh object holding only the model's fields, so nothing else the
 * bytes carried reaches the agent.
 */
import { parseSpiffeId } from '../identity.js';
import { isIanaSvcName, isPortNumber } from '../validate/formats.js';
import { formatValue } from '../validate/values.js';
import {
  addressList,
  asObject,
  asTlsMode,
  booleanField,
  dns1035,
  fieldPath,
  ipOrEmpty,
  label,
  labelsField,
  listField,
  namedPortsField,
  nonEmpty,
  portField,
  stringField,
  subdomain,
  subdomainOrEmpty,
  tlsMode,
  type WireObject,
  workloadAddress,
  type WireProblems,
} from './checks.js';
import { decodeResilience, policyName } from './policies.js';
import { MAX_BANDWIDTH_BPS, MAX_CONNECTIONS_CEILING, MIN_BANDWIDTH_BPS } from '../objects/workload-limits.js';
import { ALGORITHMS, balancerSpecProblems, type BalancerSpec, type HashKeySource } from '../load-balancer.js';
import { isLabelValue } from '../validate/formats.js';
import type { EndpointInfo, ServiceInfo, ServicePort, TrafficPolicyInfo, WorkloadInfo, WorkloadLimits } from '../types.js';

/** `<kind>/<namespace>/<name>`, the form of a workload uid. */
const WORKLOAD_UID = /^(Pod|Workload)\/[^/]+\/[^/]+$/;

/** Why `value` is not a workload SPIFFE ID of `trustDomain`, or undefined. */
function identityProblem(value: string, trustDomain: string): string | undefined {
  try {
    const id = parseSpiffeId(value);
    return id.trustDomain === trustDomain ? undefined : `is outside the trust domain ${JSON.stringify(trustDomain)}`;
  } catch {
    return 'is not a SPIFFE ID spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>';
  }
}

/** One meshed workload. */
export function decodeWorkload(p: WireProblems, value: unknown, path: string, trustDomain: string): WorkloadInfo {
  const o = asObject(p, value, path);
  const kind = stringField(p, o, 'kind', path, (v) => (v === 'Pod' || v === 'Workload' ? undefined : 'is not Pod or Workload'));
  const name = stringField(p, o, 'name', path, subdomain);
  const namespace = stringField(p, o, 'namespace', path, p.cached('label', label));
  const uid = stringField(p, o, 'uid', path, nonEmpty);
  if (uid !== '' && kind !== '' && name !== '' && namespace !== '' && uid !== `${kind}/${namespace}/${name}`) {
    p.add(fieldPath(path, 'uid'), `${JSON.stringify(uid)} is not ${JSON.stringify(`${kind}/${namespace}/${name}`)}`);
  }
  const serviceAccount = stringField(p, o, 'serviceAccount', path, p.cached('subdomain', subdomain));
  const identity = stringField(p, o, 'identity', path, p.cached('identity', (v) => identityProblem(v, trustDomain)));
  const wanted = `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  // The identity is what peers are checked against: it must follow from namespace and account.
  if (identity !== '' && namespace !== '' && serviceAccount !== '' && identity !== wanted) {
    p.add(fieldPath(path, 'identity'), `${JSON.stringify(identity)} is not the identity of its service account, ${wanted}`);
  }
  const info: WorkloadInfo = {
    uid,
    kind: kind === 'Workload' ? 'Workload' : 'Pod',
    name,
    namespace,
    addresses: addressList(p, o, 'addresses', path),
    node: stringField(p, o, 'node', path, p.cached('subdomain', subdomain)),
    nodeAddress: stringField(p, o, 'nodeAddress', path, p.cached('ipOrEmpty', ipOrEmpty)),
    serviceAccount,
    identity,
    labels: labelsField(p, o, 'labels', path),
    tlsMode: asTlsMode(stringField(p, o, 'tlsMode', path, tlsMode)),
    namedPorts: namedPortsField(p, o, 'namedPorts', path),
  };
  return withLimits(p, o, path, withZone(p, o, path, info));
}

/**
 * `value` with the limits of `o`, checked again as the annotation reader did (the agent trusts
 * no count it did not check). Absent on the wire: the agent's defaults. Keys this agent does not
 * know are ignored, as any field of a newer controller is.
 */
function withLimits(p: WireProblems, o: WireObject, path: string, value: WorkloadInfo): WorkloadInfo {
  if (o['limits'] === undefined) return value;
  const base = fieldPath(path, 'limits');
  const limits = asObject(p, o['limits'], base);
  const max = limits['maxConnections'];
  const bw = limits['maxBandwidth'];
  const share = limits['maxAgentShare'];
  let maxConnections: number | undefined;
  let maxBandwidth: number | undefined;
  let maxAgentShare: number | undefined;
  if (max !== undefined) {
    if (typeof max === 'number' && Number.isInteger(max) && max >= 1 && max <= MAX_CONNECTIONS_CEILING) maxConnections = max;
    else p.add(fieldPath(base, 'maxConnections'), `must be a whole number 1..${MAX_CONNECTIONS_CEILING}, got ${formatValue(max)}`);
  }
  if (bw !== undefined) {
    if (typeof bw === 'number' && Number.isInteger(bw) && bw >= MIN_BANDWIDTH_BPS && bw <= MAX_BANDWIDTH_BPS) maxBandwidth = bw;
    else p.add(fieldPath(base, 'maxBandwidth'), `must be whole bits per second ${MIN_BANDWIDTH_BPS}..${MAX_BANDWIDTH_BPS}, got ${formatValue(bw)}`);
  }
  if (share !== undefined) {
    if (typeof share === 'number' && Number.isInteger(share) && share >= 1 && share <= 100) maxAgentShare = share;
    else p.add(fieldPath(base, 'maxAgentShare'), `must be a whole percent 1..100, got ${formatValue(share)}`);
  }
  if (maxConnections === undefined && maxBandwidth === undefined && maxAgentShare === undefined) return value;
  const checked: WorkloadLimits = {
    ...(maxConnections === undefined ? {} : { maxConnections }),
    ...(maxBandwidth === undefined ? {} : { maxBandwidth }),
    ...(maxAgentShare === undefined ? {} : { maxAgentShare }),
  };
  return { ...value, limits: checked };
}

/** A zone: a label value (it is the `topology.kubernetes.io/zone` label of a Node), not empty. */
export const zoneCheck = (v: string): string | undefined => (v !== '' && isLabelValue(v) ? undefined : 'is not a zone (a label value)');

/** `value` with the zone of `o`, when it has one. */
function withZone<T extends { readonly zone?: string }>(p: WireProblems, o: WireObject, path: string, value: T): T {
  if (o['zone'] === undefined) return value;
  const zone = stringField(p, o, 'zone', path, p.cached('zone', zoneCheck));
  return zone === '' ? value : { ...value, zone };
}

/** One Service with its endpoints. */
export function decodeService(p: WireProblems, value: unknown, path: string, trustDomain: string): ServiceInfo {
  const o = asObject(p, value, path);
  const name = stringField(p, o, 'name', path, dns1035);
  const namespace = stringField(p, o, 'namespace', path, p.cached('label', label));
  const key = stringField(p, o, 'key', path, nonEmpty);
  if (key !== '' && name !== '' && namespace !== '' && key !== `${namespace}/${name}`) {
    p.add(fieldPath(path, 'key'), `${JSON.stringify(key)} is not ${JSON.stringify(`${namespace}/${name}`)}`);
  }
  const vips = addressList(p, o, 'vips', path);
  const ports = listField(p, o, 'ports', path).map((v, i) => decodePort(p, v, `${fieldPath(path, 'ports')}[${i}]`));
  const portNumbers = new Set(ports.map((port) => port.port));
  const endpoints = listField(p, o, 'endpoints', path).map((v, i) =>
    decodeEndpoint(p, v, `${fieldPath(path, 'endpoints')}[${i}]`, trustDomain, portNumbers),
  );
  let service: ServiceInfo = { key, name, namespace, vips, ports, endpoints };
  if (o['trafficPolicy'] !== undefined) service = { ...service, trafficPolicy: decodePolicy(p, o['trafficPolicy'], fieldPath(path, 'trafficPolicy')) };
  if (o['opaquePorts'] !== undefined) {
    const opaquePorts = listField(p, o, 'opaquePorts', path).filter((v, i) => {
      if (typeof v === 'number' && portNumbers.has(v)) return true;
      p.add(`${fieldPath(path, 'opaquePorts')}[${i}]`, `${formatValue(v)} is not a port of the Service`);
      return false;
    }) as number[];
    service = { ...service, opaquePorts };
  }
  return service;
}

/** Longest hash-key name accepted. */
const MAX_HASH_KEY_NAME = 256;

/**
 * A TrafficPolicy as the data path uses it: the balancer spec is checked with the balancers' own
 * rules, the resilience sections with the file's own readers (`policies.ts`).
 */
function decodePolicy(p: WireProblems, value: unknown, path: string): TrafficPolicyInfo {
  const o = asObject(p, value, path);
  const policy = stringField(p, o, 'policy', path, policyName);
  const b = asObject(p, o['balancer'], fieldPath(path, 'balancer'));
  const spec: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(b)) {
    if (k === 'algorithm' ? typeof v === 'string' && (ALGORITHMS as readonly string[]).includes(v) : typeof v === 'number') spec[k] = v;
    else p.add(`${fieldPath(path, 'balancer')}.${k}`, `${formatValue(v)} is not a known balancer setting`);
  }
  if (spec['algorithm'] === undefined) spec['algorithm'] = 'least-request';
  const balancer = spec as unknown as BalancerSpec;
  for (const problem of balancerSpecProblems(balancer)) p.add(`${fieldPath(path, 'balancer')}`, problem);
  const hashKeys = listField(p, o, 'hashKeys', path).flatMap((v, i): HashKeySource[] => {
    const k = asObject(p, v, `${fieldPath(path, 'hashKeys')}[${i}]`);
    if (k['kind'] === 'source-ip') return [{ kind: 'source-ip' }];
    const name = k['name'];
    if ((k['kind'] === 'header' || k['kind'] === 'cookie') && typeof name === 'string' && name !== '' && name.length <= MAX_HASH_KEY_NAME) {
      return [{ kind: k['kind'], name }];
    }
    p.add(`${fieldPath(path, 'hashKeys')}[${i}]`, 'is not {kind: header|cookie, name} or {kind: source-ip}');
    return [];
  });
  const resilience = decodeResilience(p, o['resilience'], path, 'service');
  return { policy, balancer, hashKeys, preferLocalZone: booleanField(p, o, 'preferLocalZone', path), ...resilience };
}

function decodePort(p: WireProblems, value: unknown, path: string): ServicePort {
  const o = asObject(p, value, path);
  const out: { -readonly [K in keyof ServicePort]: ServicePort[K] } = { port: portField(p, o, 'port', path), targetPort: 0 };
  const target = o['targetPort'];
  if (isPortNumber(target) || (typeof target === 'string' && isIanaSvcName(target))) out.targetPort = target;
  else p.add(fieldPath(path, 'targetPort'), `${formatValue(target)} is not a port number or a port name`);
  if (o['name'] !== undefined) out.name = stringField(p, o, 'name', path, label);
  if (o['appProtocol'] !== undefined) out.appProtocol = stringField(p, o, 'appProtocol', path, nonEmpty);
  return out;
}

function decodeEndpoint(p: WireProblems, value: unknown, path: string, trustDomain: string, servicePorts: ReadonlySet<number>): EndpointInfo {
  const o = asObject(p, value, path);
  const meshed = booleanField(p, o, 'meshed', path);
  const plain: EndpointInfo = {
    workload: stringField(p, o, 'workload', path, (v) => (WORKLOAD_UID.test(v) ? undefined : 'is not a workload uid <kind>/<namespace>/<name>')),
    address: stringField(p, o, 'address', path, p.cached('workloadAddress', workloadAddress)),
    node: stringField(p, o, 'node', path, p.cached('subdomainOrEmpty', subdomainOrEmpty)),
    nodeAddress: stringField(p, o, 'nodeAddress', path, p.cached('ipOrEmpty', ipOrEmpty)),
    meshed,
    targetPorts: decodeTargetPorts(p, o, path, servicePorts),
  };
  const endpoint = withZone(p, o, path, plain);
  if (!meshed) {
    if (o['identity'] !== undefined) p.add(fieldPath(path, 'identity'), 'must be absent for an endpoint that is not meshed');
    return endpoint;
  }
  return { ...endpoint, identity: stringField(p, o, 'identity', path, p.cached('identity', (v) => identityProblem(v, trustDomain))) };
}

/**
 * Service port -> target port; every key must be one of the Service's ports. A map with no bad
 * entry is returned as it is: it came from `JSON.parse` of this decode, referenced nowhere
 * else, and holds exactly the checked entries (a copy of integer-keyed maps cost ~7 ms per
 * 5,000 endpoints).
 */
function decodeTargetPorts(p: WireProblems, o: WireObject, path: string, servicePorts: ReadonlySet<number>): Record<number, number> {
  const base = fieldPath(path, 'targetPorts');
  const map = asObject(p, o['targetPorts'], base);
  const before = p.total;
  for (const key in map) {
    if (!Object.hasOwn(map, key)) continue;
    const port = Number(key);
    const target = map[key];
    if (!servicePorts.has(port) || String(port) !== key) p.add(`${base}[${JSON.stringify(key)}]`, 'is not a port of the Service');
    else if (!isPortNumber(target)) p.add(`${base}[${JSON.stringify(key)}]`, `${formatValue(target)} is not a port number`);
  }
  if (p.total === before && Object.getPrototypeOf(map) === Object.prototype) return map as Record<number, number>;
  const out: Record<number, number> = {};
  for (const [key, target] of Object.entries(map)) {
    const port = Number(key);
    if (servicePorts.has(port) && String(port) === key && isPortNumber(target)) out[port] = target;
  }
  return out;
}
