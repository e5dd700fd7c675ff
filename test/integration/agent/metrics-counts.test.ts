/**
 * /metrics against a running agent: the connection and byte counts match what the test sent
 * and received through the agent, denials are counted by reason, and the scrape-time gauges
 * (config, certificates, capture drift, tunnels) say what the agent holds.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { adminRig, idle, readAll, SERVER_ID, status } from './admin-rig.js';

/** `name{labels} value` lines of an exposition, as label-string -> value for one metric. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{.*\})? (\S+)$/.exec(line);
    if (m !== null && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}

function only(map: Map<string, number>, match: RegExp): number {
  const hits = [...map].filter(([labels]) => match.test(labels));
  if (hits.length !== 1) throw new Error(`expected one series matching ${match}, got ${hits.length}: ${[...map.keys()].join(' | ')}`);
  return (hits[0] as [string, number])[1];
}

t.test('connection and byte counters match the traffic the test sent', async (t) => {
  const rig = await adminRig(t);
  const sizes = [1, 1000, 65_536 * 3 + 7];
  let received = 0;
  for (const size of sizes) {
    const stream = await rig.connect('127.0.0.1', rig.backendPort);
    const answer = readAll(stream);
    t.equal(await status(stream), 200);
    stream.end(randomBytes(size));
    const text = await answer;
    t.equal(JSON.parse(text).n, size, `${size} bytes reached the workload`);
    received += Buffer.byteLength(text);
  }
  const denied = await rig.connect('127.0.0.2', rig.backendPort);
  t.equal(await status(denied), 403, 'a CONNECT to a non-workload address is denied');
  denied.destroy();
  await idle(rig.agent);
  await rig.agent.checkCapture();

  const res = await fetch(rig.metrics);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /text\/plain/);
  const text = await res.text();
  const labels = /reporter="destination".*destination_workload="server",destination_workload_namespace="demo".*security_policy="mutual_tls"/;
  t.equal(only(samples(text, 'meshlet_tcp_sent_bytes_total'), labels), sizes.reduce((a, b) => a + b), 'bytes sent = the payloads');
  t.equal(only(samples(text, 'meshlet_tcp_received_bytes_total'), labels), received, 'bytes received = the answers');
  const closed = samples(text, 'meshlet_tcp_connections_closed_total');
  t.equal([...closed.values()].reduce((a, b) => a + b, 0), 4, 'four connections closed (three served, one denied)');
  t.equal(only(samples(text, 'meshlet_tcp_connections_failed_total'), /reason="deny"/), 1, 'one failed, by deny');
  t.equal([...samples(text, 'meshlet_policy_denials_total').values()].reduce((a, b) => a + b, 0), 1);
  t.equal(samples(text, 'meshlet_tcp_connections_opened_total').get('{direction="inbound"}'), 4);
  t.equal(samples(text, 'meshlet_tcp_connections_opened_total').get('{direction="outbound"}'), 0);
  t.equal(samples(text, 'meshlet_config_info').get('{version="v1"}'), 1);
  const sinceUpdate = samples(text, 'meshlet_config_last_update_seconds').get('') ?? -1;
  t.ok(sinceUpdate >= 0, `seconds since the last update (${sinceUpdate})`);
  const expiry = samples(text, 'meshlet_certificate_expiry_seconds').get(`{identity="${SERVER_ID}"}`) ?? 0;
  t.ok(expiry > 3600, `certificate expiry in seconds (${expiry})`);
  t.equal(samples(text, 'meshlet_iptables_in_sync').get(''), 0, 'the drift the capture check reported');
  t.equal(samples(text, 'meshlet_tunnel_streams_active').get('{side="server"}'), 0);
  // prom-client's default metrics: the heap on every platform, the resident set from /proc (the
  // agent runs on Linux only, so both are there).
  t.same([...samples(text, 'nodejs_heap_size_used_bytes').keys()], [''], 'process metrics: the heap');
  t.same([...samples(text, 'process_resident_memory_bytes').keys()], [''], 'process metrics: the resident set');
  t.notMatch(text, /127\.0\.0\.1:\d+/, 'no per-connection label (addresses, ports)');

  const second = await (await fetch(rig.metrics)).text();
  t.equal(samples(second, 'meshlet_tcp_connections_opened_total').get('{direction="inbound"}'), 4, 'a second scrape does not count again');
});

t.test('live tunnel streams and connections show as gauges while open', async (t) => {
  const rig = await adminRig(t);
  const stream = await rig.connect('127.0.0.1', rig.backendPort);
  const answer = readAll(stream);
  t.equal(await status(stream), 200);
  const text = await (await fetch(rig.metrics)).text();
  t.equal(samples(text, 'meshlet_tunnel_streams_active').get('{side="server"}'), 1);
  t.equal(samples(text, 'meshlet_tcp_connections_active').get('{direction="inbound",mode="tunnel"}'), 1);
  stream.end('bye');
  await answer;
});

t.test('/metrics takes GET only; other paths are 404', async (t) => {
  const rig = await adminRig(t);
  t.equal((await fetch(rig.metrics, { method: 'POST' })).status, 405);
  t.equal((await fetch(rig.metrics.replace('/metrics', '/other'))).status, 404);
});
