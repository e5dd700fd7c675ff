/**
 * The per-workload limit annotation `meshlet.io/max-connections`: read from Pods and Workloads,
 * carried in the cluster state and on the snapshot wire (absent when unset, so older agents read
 * the same bytes), checked again by the agent; a malformed value is a problem naming the field,
 * and the document yields no object (the previous state stays in force).
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { gunzipSync, gzipSync } from 'node:zlib';
import { collectObjects, parseObjects } from '../../../../src/mesh/objects/parse.js';
import { formatBandwidth, parseAgentShare, parseBandwidth, parseMaxConnections } from '../../../../src/mesh/objects/workload-limits.js';
import { buildClusterState, computeSnapshot } from '../../../../src/mesh/snapshot.js';
import { decodeSnapshot, encodeClusterView, snapshotToWire, type SnapshotWire } from '../../../../src/mesh/snapshot-wire/encode.js';
import { isMeshletError, MeshletError } from '../../../../src/mesh/errors.js';
import type { MeshObject, PodObject, WorkloadObject } from '../../../../src/mesh/types.js';
import { thrown, twoNodeFiles } from '../fixture.js';

const TD = 'cluster.local';

function pod(annotations: string): string {
  return `apiVersion: v1\nkind: Pod\nmetadata: {name: flood, namespace: demo, annotations: {${annotations}}}\n` +
    'spec: {nodeName: node-a, serviceAccountName: flood}\nstatus: {podIP: 198.18.1.77}\n';
}

/** The two-node fixture with the client pod annotated `key: value` (default `meshlet.io/max-connections`). */
function fixtureWith(value: string | undefined, key = 'meshlet.io/max-connections'): MeshObject[] {
  return twoNodeFiles().flatMap(({ name, text }) => {
    const annotated = name === 'pods.yaml' && value !== undefined
      ? text.replace('    kubectl.kubernetes.io/restartedAt: "2025-01-10T08:10:00Z"', `    kubectl.kubernetes.io/restartedAt: "2025-01-10T08:10:00Z"\n    ${key}: "${value}"`)
      : text;
    return parseObjects(annotated, name);
  });
}

function wireFor(objects: MeshObject[]): SnapshotWire {
  const state = buildClusterState(objects);
  return snapshotToWire(encodeClusterView(state, 'v1'), computeSnapshot(state, 'node-a', 'v1'));
}

function decodeFailure(t: Test, wire: SnapshotWire): string {
  const err = thrown(() => decodeSnapshot(wire, { node: 'node-a', trustDomain: TD }));
  t.equal(isMeshletError(err, 'MESHLET_ERR_CONTROLLER'), true, 'MESHLET_ERR_CONTROLLER');
  return err instanceof MeshletError ? err.message : '';
}

t.test('a pod annotation sets maxConnections; none sets nothing', async (t) => {
  const [annotated] = parseObjects(pod('meshlet.io/max-connections: "200"'), 'p.yaml') as PodObject[];
  t.same(annotated?.limits, { maxConnections: 200 });
  const [plain] = parseObjects(pod('team: a'), 'p.yaml') as PodObject[];
  t.equal(plain?.limits, undefined);
  t.equal(plain !== undefined && 'limits' in plain, false, 'no limits key at all');
  const [spaced] = parseObjects(pod('meshlet.io/max-connections: " 7 "'), 'p.yaml') as PodObject[];
  t.same(spaced?.limits, { maxConnections: 7 }, 'surrounding spaces are trimmed');
});

t.test('a meshlet Workload reads the same annotation', async (t) => {
  const text = 'apiVersion: meshlet.io/v1alpha1\nkind: Workload\nmetadata: {name: vm, namespace: demo, annotations: {meshlet.io/max-connections: "50"}}\n' +
    'spec: {address: 198.18.1.90, node: node-a}\n';
  const [w] = parseObjects(text, 'w.yaml') as WorkloadObject[];
  t.same(w?.limits, { maxConnections: 50 });
});

t.test('attack: malformed values are refused with the field named, and the document yields nothing', async (t) => {
  const bad = ['0', '-1', '1.5', '1e3', '0x10', 'ten', '', '1000001', '99999999999', '12 34'];
  for (const value of bad) {
    const { objects, problems } = collectObjects(pod(`meshlet.io/max-connections: ${JSON.stringify(value)}`), 'p.yaml');
    t.equal(objects.length, 0, `${JSON.stringify(value)}: no object`);
    t.equal(problems.length, 1, `${JSON.stringify(value)}: one problem`);
    t.match(problems[0]?.text, `Pod demo/flood: metadata.annotations.meshlet.io/max-connections: must be a whole number of connections 1..1000000, e.g. "200", got ${JSON.stringify(value)}`);
  }
  const { problems } = collectObjects(pod('meshlet.io/max-connections: 200'), 'p.yaml');
  t.match(problems[0]?.text, 'metadata.annotations.meshlet.io/max-connections: annotation values must be strings (quote it), got 200');
});

t.test('parseMaxConnections: digits only, 1..1,000,000', async (t) => {
  t.equal(parseMaxConnections('1'), 1);
  t.equal(parseMaxConnections('1000000'), 1_000_000);
  t.equal(parseMaxConnections('1000001'), undefined);
  t.equal(parseMaxConnections('0'), undefined);
  t.equal(parseMaxConnections('+5'), undefined);
});

t.test('the limit travels to the agent; absent, the wire has no limits key', async (t) => {
  const wire = wireFor(fixtureWith('3'));
  const snapshot = decodeSnapshot(wire, { node: 'node-a', trustDomain: TD });
  const client = snapshot.localWorkloads.find((w) => w.uid === 'Pod/demo/client');
  t.same(client?.limits, { maxConnections: 3 });
  t.strictSame(snapshot, computeSnapshot(buildClusterState(fixtureWith('3')), 'node-a', 'v1'), 'round trip');
  const plain = wireFor(fixtureWith(undefined));
  const view = JSON.parse(gunzipSync(plain.cluster).toString('utf8')) as { workloads: Record<string, unknown>[] };
  t.equal(view.workloads.filter((w) => 'limits' in w).length, 0, 'no workload carries a limits key');
  t.equal(decodeSnapshot(plain, { node: 'node-a', trustDomain: TD }).localWorkloads.filter((w) => w.limits !== undefined).length, 0);
});

t.test('attack: the agent checks the wire value again and names it', async (t) => {
  const good = wireFor(fixtureWith('3'));
  const at = (bad: unknown): SnapshotWire => {
    const view = JSON.parse(gunzipSync(good.cluster).toString('utf8')) as { workloads: Record<string, unknown>[] };
    const i = view.workloads.findIndex((w) => w['uid'] === 'Pod/demo/client');
    (view.workloads[i] as Record<string, unknown>)['limits'] = bad;
    return { ...good, cluster: gzipSync(JSON.stringify(view)) };
  };
  t.match(decodeFailure(t, at({ maxConnections: 0 })), 'limits.maxConnections: must be a whole number 1..1000000, got 0');
  t.match(decodeFailure(t, at({ maxConnections: 2.5 })), 'limits.maxConnections: must be a whole number 1..1000000, got 2.5');
  t.match(decodeFailure(t, at({ maxConnections: '9' })), 'limits.maxConnections: must be a whole number 1..1000000, got "9"');
  t.match(decodeFailure(t, at('many')), 'limits: must be an object, got "many"');
  const newer = decodeSnapshot(at({ maxConnections: 4, maxBytesPerSecond: 10 }), { node: 'node-a', trustDomain: TD });
  t.same(newer.localWorkloads.find((w) => w.uid === 'Pod/demo/client')?.limits, { maxConnections: 4 }, 'a key this agent does not know is ignored');
});

t.test('meshlet.io/max-bandwidth: bits per second with Kubernetes suffixes, beside or without max-connections', async (t) => {
  const [bw] = parseObjects(pod('meshlet.io/max-bandwidth: "8M"'), 'p.yaml') as PodObject[];
  t.strictSame(bw?.limits, { maxBandwidth: 8_000_000 });
  const [both] = parseObjects(pod('meshlet.io/max-bandwidth: "1Gi", meshlet.io/max-connections: "9"'), 'p.yaml') as PodObject[];
  t.strictSame(both?.limits, { maxConnections: 9, maxBandwidth: 2 ** 30 });
  const text = 'apiVersion: meshlet.io/v1alpha1\nkind: Workload\nmetadata: {name: vm, namespace: demo, annotations: {meshlet.io/max-bandwidth: "500k"}}\n' +
    'spec: {address: 198.18.1.90, node: node-a}\n';
  const [w] = parseObjects(text, 'w.yaml') as WorkloadObject[];
  t.strictSame(w?.limits, { maxBandwidth: 500_000 });
});

t.test('parseBandwidth: every suffix, fractions to whole bits, the 1k..1P range', async (t) => {
  const good: Array<[string, number]> = [
    ['1000', 1000], ['1k', 1e3], ['10M', 1e7], ['2G', 2e9], ['3T', 3e12], ['1P', 1e15],
    ['1Ki', 1024], ['1Mi', 2 ** 20], ['1Gi', 2 ** 30], ['1Ti', 2 ** 40],
    ['1.5k', 1500], ['1.1k', 1100], ['0.5M', 500_000], [' 8M ', 8e6], ['007k', 7000],
  ];
  for (const [text, bits] of good) t.equal(parseBandwidth(text), bits, JSON.stringify(text));
  t.equal(parseBandwidth('999'), undefined, 'below 1k');
  t.equal(parseBandwidth('1.001P'), undefined, 'above 1P');
  t.equal(parseBandwidth('1Pi'), undefined, '1Pi is above 1P');
  t.equal(parseBandwidth('1.0001k'), undefined, 'a fraction of a bit');
});

t.test('attack: malformed max-bandwidth values are refused with the object, field and value named', async (t) => {
  const bad = ['0', '-1M', '10m', '10K', '10mi', '10MB', '10Mbps', '10 M', '1e6', '0x10M', 'ten', '', '.5M', '5.M', 'M', '1,000k', '10M10', '+10M', '999', '2P', 'Infinity', 'NaN'];
  for (const value of bad) {
    const { objects, problems } = collectObjects(pod(`meshlet.io/max-bandwidth: ${JSON.stringify(value)}`), 'p.yaml');
    t.equal(objects.length, 0, `${JSON.stringify(value)}: no object`);
    t.equal(problems.length, 1, `${JSON.stringify(value)}: one problem`);
    t.match(problems[0]?.text, `Pod demo/flood: metadata.annotations.meshlet.io/max-bandwidth: must be bits per second 1k..1P as in kubernetes.io/egress-bandwidth`);
    t.match(problems[0]?.text, `got ${JSON.stringify(value)}`);
  }
  const { problems } = collectObjects(pod('meshlet.io/max-bandwidth: 1000000'), 'p.yaml');
  t.match(problems[0]?.text, 'metadata.annotations.meshlet.io/max-bandwidth: annotation values must be strings (quote it), got 1000000');
  const two = collectObjects(pod('meshlet.io/max-bandwidth: "fast", meshlet.io/max-connections: "0"'), 'p.yaml');
  t.equal(two.problems.length, 2, 'both bad annotations are reported at once');
});

t.test('formatBandwidth writes the largest SI suffix that divides the value', async (t) => {
  t.equal(formatBandwidth(8_000_000), '8M');
  t.equal(formatBandwidth(1500), '1500');
  t.equal(formatBandwidth(2 ** 30), '1073741824');
  t.equal(formatBandwidth(3e12), '3T');
});

t.test('max-bandwidth travels to the agent; alone, the wire limits carry only it', async (t) => {
  const wire = wireFor(fixtureWith('8M', 'meshlet.io/max-bandwidth'));
  const view = JSON.parse(gunzipSync(wire.cluster).toString('utf8')) as { workloads: Record<string, unknown>[] };
  t.strictSame(view.workloads.find((w) => w['uid'] === 'Pod/demo/client')?.['limits'], { maxBandwidth: 8_000_000 });
  const snapshot = decodeSnapshot(wire, { node: 'node-a', trustDomain: TD });
  t.strictSame(snapshot.localWorkloads.find((w) => w.uid === 'Pod/demo/client')?.limits, { maxBandwidth: 8_000_000 });
  t.strictSame(snapshot, computeSnapshot(buildClusterState(fixtureWith('8M', 'meshlet.io/max-bandwidth')), 'node-a', 'v1'), 'round trip');
});

t.test('attack: the agent checks the wire bandwidth again and names it', async (t) => {
  const good = wireFor(fixtureWith('8M', 'meshlet.io/max-bandwidth'));
  const at = (bad: unknown): SnapshotWire => {
    const view = JSON.parse(gunzipSync(good.cluster).toString('utf8')) as { workloads: Record<string, unknown>[] };
    const i = view.workloads.findIndex((w) => w['uid'] === 'Pod/demo/client');
    (view.workloads[i] as Record<string, unknown>)['limits'] = bad;
    return { ...good, cluster: gzipSync(JSON.stringify(view)) };
  };
  for (const bad of [0, 999, 1.5e3 + 0.5, 2e15, -8e6, '8M', null, true]) {
    t.match(decodeFailure(t, at({ maxBandwidth: bad })), `limits.maxBandwidth: must be whole bits per second 1000..1000000000000000, got ${JSON.stringify(bad)}`, `wire ${JSON.stringify(bad)}`);
  }
  t.match(decodeFailure(t, at({ maxConnections: 0, maxBandwidth: 8e6 })), 'limits.maxConnections', 'a bad neighbour key still refuses the snapshot');
});

t.test('property: a number with any suffix reads as its bits when in 1k..1P, and formatBandwidth reads back the same', async (t) => {
  const mults: Array<[string, number]> = [['', 1], ['k', 1e3], ['M', 1e6], ['G', 1e9], ['T', 1e12], ['P', 1e15], ['Ki', 2 ** 10], ['Mi', 2 ** 20], ['Gi', 2 ** 30], ['Ti', 2 ** 40], ['Pi', 2 ** 50]];
  let inRange = 0;
  const check = (n: number, i: number): boolean => {
    const [suffix, mult] = mults[i] as [string, number];
    const want = n * mult;
    const got = parseBandwidth(`${n}${suffix}`);
    const expected = want >= 1000 && want <= 1e15 ? want : undefined;
    if (got !== expected) throw new Error(`"${n}${suffix}": got ${String(got)}, want ${String(expected)}`);
    if (got !== undefined) {
      inRange++;
      if (parseBandwidth(formatBandwidth(got)) !== got) throw new Error(`formatBandwidth(${got}) = ${formatBandwidth(got)} does not read back`);
    }
    return true;
  };
  fc.assert(fc.property(fc.integer({ min: 0, max: 9_999_999 }), fc.integer({ min: 0, max: mults.length - 1 }), check), { numRuns: 2000, seed: 20261208 });
  t.ok(inRange > 500, `${inRange} generated values were in range and read back`);
});

t.test('meshlet.io/max-agent-share: a whole percent, with or without %, beside the other limits', async (t) => {
  const [share] = parseObjects(pod('meshlet.io/max-agent-share: "25%"'), 'p.yaml') as PodObject[];
  t.strictSame(share?.limits, { maxAgentShare: 25 });
  const [all] = parseObjects(pod('meshlet.io/max-agent-share: "60", meshlet.io/max-bandwidth: "8M", meshlet.io/max-connections: "9"'), 'p.yaml') as PodObject[];
  t.strictSame(all?.limits, { maxConnections: 9, maxBandwidth: 8_000_000, maxAgentShare: 60 });
  const text = 'apiVersion: meshlet.io/v1alpha1\nkind: Workload\nmetadata: {name: vm, namespace: demo, annotations: {meshlet.io/max-agent-share: "100%"}}\n' +
    'spec: {address: 198.18.1.90, node: node-a}\n';
  const [w] = parseObjects(text, 'w.yaml') as WorkloadObject[];
  t.strictSame(w?.limits, { maxAgentShare: 100 });
  for (const [text, n] of [['1', 1], ['1%', 1], ['100', 100], [' 50% ', 50], ['007%', 7]] as const) t.equal(parseAgentShare(text), n, JSON.stringify(text));
});

t.test('attack: malformed max-agent-share values are refused with the object, field and value named', async (t) => {
  const bad = ['0', '0%', '101', '150%', '-5', '0.5', '25.5%', '25 %', '%', '', 'half', '1e2', '0x10', '25%%', '1000', '+25'];
  for (const value of bad) {
    t.equal(parseAgentShare(value), undefined, `${JSON.stringify(value)}: not a share`);
    const { objects, problems } = collectObjects(pod(`meshlet.io/max-agent-share: ${JSON.stringify(value)}`), 'p.yaml');
    t.equal(objects.length, 0, `${JSON.stringify(value)}: no object`);
    t.equal(problems.length, 1, `${JSON.stringify(value)}: one problem`);
    t.match(problems[0]?.text, 'Pod demo/flood: metadata.annotations.meshlet.io/max-agent-share: must be a whole percent 1..100 of the agent');
    t.match(problems[0]?.text, `got ${JSON.stringify(value)}`);
  }
});

t.test('max-agent-share travels to the agent, and the agent checks it again', async (t) => {
  const good = wireFor(fixtureWith('30%', 'meshlet.io/max-agent-share'));
  const snapshot = decodeSnapshot(good, { node: 'node-a', trustDomain: TD });
  t.strictSame(snapshot.localWorkloads.find((w) => w.uid === 'Pod/demo/client')?.limits, { maxAgentShare: 30 });
  t.strictSame(snapshot, computeSnapshot(buildClusterState(fixtureWith('30%', 'meshlet.io/max-agent-share')), 'node-a', 'v1'), 'round trip');
  const at = (bad: unknown): SnapshotWire => {
    const view = JSON.parse(gunzipSync(good.cluster).toString('utf8')) as { workloads: Record<string, unknown>[] };
    const i = view.workloads.findIndex((w) => w['uid'] === 'Pod/demo/client');
    (view.workloads[i] as Record<string, unknown>)['limits'] = bad;
    return { ...good, cluster: gzipSync(JSON.stringify(view)) };
  };
  for (const bad of [0, 101, 25.5, -1, '25%', null, true]) {
    t.match(decodeFailure(t, at({ maxAgentShare: bad })), `limits.maxAgentShare: must be a whole percent 1..100, got ${JSON.stringify(bad)}`, `wire ${JSON.stringify(bad)}`);
  }
});
