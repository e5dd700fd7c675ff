/**
 * Decoding the snapshot wire format on the agent: the controller's bytes are untrusted input.
 * Every field is checked (types, addresses, ports, names, identities, cross references); bad
 * data throws one MeshletError naming each bad field, which the agent sends back as its NACK
 * reason, and nothing of it is used.
 */
import { gunzipSync } from 'node:zlib';
import { MeshletError } from '../errors.js';
import { isValidTrustDomain } from '../identity.js';
import { formatValue, isFields } from '../validate/values.js';
import { fieldPath, ipOrEmpty, listField, nonEmpty, stringField, subdomain, WireProblems, type WireObject } from './checks.js';
import { decodeService, decodeWorkload, zoneCheck } from './entries.js';
import { decodeRoutes } from './routes.js';
import { decodeRoutePolicies } from './policies.js';
import { decodeTelemetry } from './telemetry.js';
import { decodeAuthorizationPolicies } from './authz.js';
import { authorizationPolicyDataProblems } from '../objects/authorization-policy.js';
import { CLUSTER_ENCODING, CLUSTER_VIEW_FORMAT, MAX_CLUSTER_VIEW_BYTES, type SnapshotWire } from './types.js';
import type { NodeSnapshot, ServiceInfo, WorkloadInfo } from '../types.js';
import { ADDRESS_REASONS, addressPolicy, canonicalAddress } from '../workload-address.js';

/** What the receiving agent knows independently of the controller, checked against the data. */
export interface SnapshotExpectations {
  /** The agent's own node: a snapshot for another node is refused. */
  readonly node: string;
  /** The agent's trust domain: identities elsewhere are refused. */
  readonly trustDomain: string;
}

/** Problems listed in the error message (every one is in `details`). */
const MESSAGE_PROBLEMS = 5;

/**
 * Decodes and validates one snapshot. Throws MeshletError MESHLET_ERR_CONTROLLER whose message
 * names every bad field (`cluster.workloads[3].addresses[0]: "10.0.0.999" is not an IP address`).
 */
export function decodeSnapshot(wire: SnapshotWire, expected: SnapshotExpectations): NodeSnapshot {
  const p = new WireProblems();
  // Typed by the caller, but it came off the network: every field is checked as unknown.
  const fields = wire as unknown as WireObject;
  const version = stringField(p, fields, 'version', '', nonEmpty);
  const view = readClusterView(wire, version);
  const trustDomain = stringField(p, view, 'trustDomain', 'cluster', (v) =>
    !isValidTrustDomain(v) ? 'is not a SPIFFE trust domain' : v !== expected.trustDomain ? `is not this agent's trust domain ${JSON.stringify(expected.trustDomain)}` : undefined,
  );
  if (view['format'] !== CLUSTER_VIEW_FORMAT) p.add('cluster.format', `${formatValue(view['format'])} is not ${JSON.stringify(CLUSTER_VIEW_FORMAT)}`);
  if (view['version'] !== version) p.add('cluster.version', `${formatValue(view['version'])} is not the snapshot's version ${JSON.stringify(version)}`);

  const workloads = decodeWorkloads(p, view, expected.trustDomain);
  const services = decodeServices(p, view, expected.trustDomain);
  const node = stringField(p, fields, 'node', '', (v) =>
    subdomain(v) ?? (v !== expected.node ? `is not this agent's node ${JSON.stringify(expected.node)}` : undefined),
  );
  const nodeAddress = stringField(p, fields, 'nodeAddress', '', ipOrEmpty);
  noNodeAddresses(p, workloads, nodeAddress);
  const localWorkloads = pickLocal(p, fields, node, workloads);
  const routes = decodeRoutes(p, view, services);
  const routePolicies = decodeRoutePolicies(p, view, routes);
  const zone = nodeZone(p, view, node);
  const telemetry = decodeTelemetry(p, view);
  const authorizationPolicies = decodeAuthorizationPolicies(p, view, authorizationPolicyDataProblems);
  if (p.total > 0) throw invalid(version, p);
  const plain: NodeSnapshot = { version, node, nodeAddress, trustDomain, localWorkloads, workloads, services };
  const snapshot = routes.length === 0 ? plain : { ...plain, routes };
  const withAuthz = authorizationPolicies.length === 0 ? snapshot : { ...snapshot, authorizationPolicies };
  const withPolicies = routePolicies.length === 0 ? withAuthz : { ...withAuthz, routePolicies };
  const withTelemetry = telemetry.length === 0 ? withPolicies : { ...withPolicies, telemetry };
  return zone === undefined ? withTelemetry : { ...withTelemetry, zone };
}

/** This node's zone from `cluster.nodeZones` (zone by node name), if it is there. */
function nodeZone(p: WireProblems, view: WireObject, node: string): string | undefined {
  const zones = view['nodeZones'];
  if (zones === undefined) return undefined;
  if (!isFields(zones)) {
    p.add('cluster.nodeZones', `must be an object, got ${formatValue(zones)}`);
    return undefined;
  }
  for (const [name, zone] of Object.entries(zones)) {
    const why = typeof zone === 'string' ? zoneCheck(zone) : 'must be a string';
    if (why !== undefined) p.add(`cluster.nodeZones[${JSON.stringify(name)}]`, `${formatValue(zone)} ${why}`);
  }
  const zone = Object.hasOwn(zones, node) ? zones[node] : undefined;
  return typeof zone === 'string' && zoneCheck(zone) === undefined ? zone : undefined;
}

/** gunzip + UTF-8 + JSON; a stream that is not one of those cannot be checked field by field. */
function readClusterView(wire: SnapshotWire, version: string): WireObject {
  const fail = (why: string, cause?: unknown): MeshletError =>
    new MeshletError('MESHLET_ERR_CONTROLLER', `snapshot ${JSON.stringify(version)} is invalid: cluster: ${why}`, cause === undefined ? {} : { cause });
  if (wire.clusterEncoding !== CLUSTER_ENCODING) {
    throw fail(`encoding ${formatValue(wire.clusterEncoding)} is not ${JSON.stringify(CLUSTER_ENCODING)} (controller and agent versions differ?)`);
  }
  if (!(wire.cluster instanceof Uint8Array)) throw fail('must be bytes');
  let json: string;
  try {
    json = new TextDecoder('utf-8', { fatal: true }).decode(gunzipSync(wire.cluster, { maxOutputLength: MAX_CLUSTER_VIEW_BYTES }));
  } catch (err) {
    throw fail(`not a gzip stream of UTF-8 text of at most ${MAX_CLUSTER_VIEW_BYTES} bytes: ${(err as Error).message}`, err);
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw fail(`not JSON: ${(err as Error).message}`, err);
  }
  if (!isFields(value)) throw fail(`must be a JSON object, got ${formatValue(value)}`);
  return value as WireObject;
}

function decodeWorkloads(p: WireProblems, view: WireObject, trustDomain: string): WorkloadInfo[] {
  const uids = new Set<string>();
  const owners = new Map<string, string>();
  return listField(p, view, 'workloads', 'cluster').map((value, i) => {
    const path = `cluster.workloads[${i}]`;
    const w = decodeWorkload(p, value, path, trustDomain);
    if (w.uid !== '' && uids.has(w.uid)) p.add(fieldPath(path, 'uid'), `${JSON.stringify(w.uid)} appears twice`);
    uids.add(w.uid);
    // The agent finds a connection's workload by address: two owners would make that a guess.
    for (const address of w.addresses) {
      const owner = owners.get(address);
      if (owner !== undefined && owner !== w.uid) p.add(fieldPath(path, 'addresses'), `${address} is also the address of ${owner}`);
      else owners.set(address, w.uid);
    }
    return w;
  });
}

function decodeServices(p: WireProblems, view: WireObject, trustDomain: string): ServiceInfo[] {
  const keys = new Set<string>();
  return listField(p, view, 'services', 'cluster').map((value, i) => {
    const path = `cluster.services[${i}]`;
    const s = decodeService(p, value, path, trustDomain);
    if (s.key !== '' && keys.has(s.key)) p.add(fieldPath(path, 'key'), `${JSON.stringify(s.key)} appears twice`);
    keys.add(s.key);
    return s;
  });
}

/**
 * No workload may have a node's address (this node's, or the node address of any workload in
 * the view): the agent dials local workloads from the node's namespace, and would relay to the
 * node itself (issue 9).
 */
function noNodeAddresses(p: WireProblems, workloads: readonly WorkloadInfo[], nodeAddress: string): void {
  const policy = addressPolicy({ nodeAddresses: [nodeAddress, ...workloads.map((w) => w.nodeAddress)].filter((a) => a !== '') });
  workloads.forEach((w, i) => {
    w.addresses.forEach((a, j) => {
      const text = canonicalAddress(a);
      if (text !== undefined && policy.nodeAddresses.has(text)) p.add(`cluster.workloads[${i}].addresses[${j}]`, `${JSON.stringify(a)} ${ADDRESS_REASONS.node}`);
    });
  });
}

/** The local workloads, by uid: each must be a workload of the view scheduled on `node`. */
function pickLocal(p: WireProblems, fields: WireObject, node: string, workloads: readonly WorkloadInfo[]): WorkloadInfo[] {
  const byUid = new Map(workloads.map((w) => [w.uid, w]));
  const seen = new Set<string>();
  const out: WorkloadInfo[] = [];
  const uids = listField(p, fields, 'localWorkloadUids', '');
  uids.forEach((uid, i) => {
    const path = `localWorkloadUids[${i}]`;
    const w = typeof uid === 'string' ? byUid.get(uid) : undefined;
    if (w === undefined) p.add(path, `${formatValue(uid)} is not a workload of the cluster view`);
    else if (w.node !== node) p.add(path, `${JSON.stringify(uid)} runs on node ${JSON.stringify(w.node)}, not ${JSON.stringify(node)}`);
    else if (seen.has(w.uid)) p.add(path, `${JSON.stringify(uid)} appears twice`);
    else {
      seen.add(w.uid);
      out.push(w);
    }
  });
  return out;
}

function invalid(version: string, p: WireProblems): MeshletError {
  const shown = p.lines.slice(0, MESSAGE_PROBLEMS).join('; ');
  const more = p.total > MESSAGE_PROBLEMS ? `; and ${p.total - MESSAGE_PROBLEMS} more` : '';
  const count = p.total === 1 ? '' : ` (${p.total} problems)`;
  return new MeshletError('MESHLET_ERR_CONTROLLER', `snapshot ${JSON.stringify(version)} is invalid${count}: ${shown}${more}`, { details: p.lines });
}
