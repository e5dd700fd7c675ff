/**
 * The Telemetry object: parsed and validated with errors naming the field and value, carried
 * through the cluster state and the node snapshot's wire (checked again on the way in), and
 * resolved per namespace (its own, else the root namespace's; the oldest of several wins).
 */
import t from 'tap';
import { parseObjects } from '../../../../src/mesh/objects/parse.js';
import { tracingFor } from '../../../../src/mesh/objects/telemetry.js';
import { buildClusterState, computeSnapshot } from '../../../../src/mesh/snapshot.js';
import { clusterViewOfSnapshot, decodeSnapshot, encodeClusterView, snapshotToWire } from '../../../../src/mesh/snapshot-wire/encode.js';
import { MeshletError } from '../../../../src/mesh/errors.js';
import type { TelemetryData } from '../../../../src/mesh/types.js';

const doc = (ns: string, tracing: string): string => `apiVersion: meshlet.io/v1alpha1\nkind: Telemetry\nmetadata: {name: tracing, namespace: ${ns}}\nspec:\n  tracing: ${tracing}\n`;

function problems(text: string): readonly string[] {
  try {
    parseObjects(text, 'telemetry.yaml');
  } catch (err) {
    if (err instanceof MeshletError) return err.details ?? [];
    throw err;
  }
  return [];
}

t.test('a valid Telemetry parses, samplingPercentage defaulting to 1', async (t) => {
  const [o] = parseObjects(doc('meshlet-system', '{collector: "http://otel.observability:4318"}'), 'f.yaml');
  t.same(o, { kind: 'Telemetry', name: 'tracing', namespace: 'meshlet-system', labels: {}, source: { file: 'f.yaml', doc: 0 }, creationTimestamp: 0, tracing: { collector: 'http://otel.observability:4318', samplingPercentage: 1 } });
  const [p] = parseObjects(doc('demo', '{collector: "https://otel:4318/custom/v1/traces", samplingPercentage: 0.5}'), 'f.yaml');
  t.same(p?.kind === 'Telemetry' ? p.tracing : undefined, { collector: 'https://otel:4318/custom/v1/traces', samplingPercentage: 0.5 });
});

t.test('protocol: http/protobuf (the default, left out) or grpc (no path)', async (t) => {
  const [g] = parseObjects(doc('demo', '{collector: "http://otel:4317", protocol: grpc}'), 'f.yaml');
  t.same(g?.kind === 'Telemetry' ? g.tracing : undefined, { collector: 'http://otel:4317', protocol: 'grpc', samplingPercentage: 1 });
  const [h] = parseObjects(doc('demo', '{collector: "http://otel:4318", protocol: http/protobuf}'), 'f.yaml');
  t.same(h?.kind === 'Telemetry' ? h.tracing : undefined, { collector: 'http://otel:4318', samplingPercentage: 1 }, 'the default is not written out');
  t.match(problems(doc('demo', '{collector: "http://otel:4318", protocol: http/json}')), [/spec\.tracing\.protocol: must be one of "http\/protobuf", "grpc", got "http\/json"/]);
  t.match(problems(doc('demo', '{collector: "http://otel:4318", protocol: 4317}')), [/spec\.tracing\.protocol: /]);
  t.match(problems(doc('demo', '{collector: "http://otel:4317/v1/traces", protocol: grpc}')), [/spec\.tracing\.collector: must have no path with protocol grpc .*got "\/v1\/traces"/]);
  t.same(problems(doc('demo', '{collector: "https://otel:4317/", protocol: grpc}')), [], 'a lone slash is no path');
});

t.test('bad fields are named with their values', async (t) => {
  t.match(problems(doc('demo', '{collector: "otel:4318"}')), [/Telemetry demo\/tracing: spec\.tracing\.collector: must use http or https \(also for OTLP\/gRPC: http for plaintext, https for TLS\), got "otel"/]);
  t.match(problems(doc('demo', '{collector: "not a url"}')), [/spec\.tracing\.collector: must be an http:\/\/ or https:\/\/ URL .*got "not a url"/]);
  t.match(problems(doc('demo', '{collector: "grpc://otel:4317"}')), [/spec\.tracing\.collector: must use http or https/]);
  t.match(problems(doc('demo', '{collector: "http://otel:4318?x=1"}')), [/spec\.tracing\.collector: must have no query or fragment/]);
  t.match(problems(doc('demo', '{collector: "http://u:p@otel:4318"}')), [/spec\.tracing\.collector: must not carry credentials/]);
  t.match(problems(doc('demo', '{collector: "http://otel:4318", samplingPercentage: 150}')), [/spec\.tracing\.samplingPercentage: must be a number from 0 to 100, got 150/]);
  t.match(problems(doc('demo', '{collector: "http://otel:4318", samplingPercentage: "10%"}')), [/spec\.tracing\.samplingPercentage: must be a number from 0 to 100, got "10%"/]);
  t.match(problems(doc('demo', '{samplingPercentage: 10}')), [/spec\.tracing\.collector: required/]);
  t.match(problems(doc('demo', '{collector: "http://otel:4318", sampling: 10}')), [/spec\.tracing\.sampling: unknown field/]);
});

t.test('tracingFor: the namespace\'s own, else the root namespace\'s; the oldest wins', async (t) => {
  const all: TelemetryData[] = [
    { namespace: 'meshlet-system', name: 'mesh', creationTimestamp: 5, tracing: { collector: 'http://mesh:4318', samplingPercentage: 1 } },
    { namespace: 'demo', name: 'b', creationTimestamp: 1, tracing: { collector: 'http://old:4318', samplingPercentage: 10 } },
    { namespace: 'demo', name: 'a', creationTimestamp: 2, tracing: { collector: 'http://new:4318', samplingPercentage: 20 } },
    { namespace: 'quiet', name: 'off', creationTimestamp: 0 },
  ];
  t.equal(tracingFor(all, 'demo', 'meshlet-system')?.collector, 'http://old:4318');
  t.equal(tracingFor(all, 'other', 'meshlet-system')?.collector, 'http://mesh:4318');
  t.equal(tracingFor(all, 'quiet', 'meshlet-system'), undefined, 'a Telemetry without tracing turns it off there');
  t.equal(tracingFor([], 'demo', 'meshlet-system'), undefined);
});

t.test('carried in the node snapshot and read back through the wire', async (t) => {
  const objects = parseObjects(doc('meshlet-system', '{collector: "http://otel:4318", samplingPercentage: 25}'), 'f.yaml');
  const state = buildClusterState(objects);
  t.same(state.telemetry, [{ namespace: 'meshlet-system', name: 'tracing', creationTimestamp: 0, tracing: { collector: 'http://otel:4318', samplingPercentage: 25 } }]);
  const snapshot = computeSnapshot(state, 'n1', 'v1');
  t.same(snapshot.telemetry, state.telemetry);
  const wire = snapshotToWire(encodeClusterView(state, 'v1'), snapshot);
  const back = decodeSnapshot(wire, { node: 'n1', trustDomain: 'cluster.local' });
  t.same(back.telemetry, state.telemetry);
  const stored = snapshotToWire(encodeClusterView(clusterViewOfSnapshot(back), 'v1'), back);
  t.same(decodeSnapshot(stored, { node: 'n1', trustDomain: 'cluster.local' }).telemetry, state.telemetry, 'kept by the agent\'s stored snapshot too');
  const grpc = buildClusterState(parseObjects(doc('demo', '{collector: "http://otel:4317", protocol: grpc}'), 'g.yaml'));
  const grpcWire = snapshotToWire(encodeClusterView(grpc, 'v1'), computeSnapshot(grpc, 'n1', 'v1'));
  t.same(decodeSnapshot(grpcWire, { node: 'n1', trustDomain: 'cluster.local' }).telemetry?.[0]?.tracing, { collector: 'http://otel:4317', protocol: 'grpc', samplingPercentage: 1 }, 'the protocol travels');
  t.notMatch(JSON.stringify(encodeClusterView(state, 'v1')), /"protocol"/, 'the default protocol is not on the wire (agents older than the field read it as before)');
  const none = computeSnapshot(buildClusterState([]), 'n1', 'v2');
  t.equal(none.telemetry, undefined, 'absent when there is none');
});

t.test('a bad Telemetry on the wire is refused naming the field', async (t) => {
  const state = buildClusterState([]);
  const view = { ...state, telemetry: [{ namespace: 'demo', name: 'x', creationTimestamp: 0, tracing: { collector: 'ftp://x', samplingPercentage: 500 } }] };
  const wire = snapshotToWire(encodeClusterView(view, 'v1'), computeSnapshot(state, 'n1', 'v1'));
  t.throws(() => decodeSnapshot(wire, { node: 'n1', trustDomain: 'cluster.local' }), /cluster\.telemetry\[0\]\.tracing\.collector: must use http or https/);
});
