import t from 'tap';
import {
  encodeLine, entriesProblem, MAX_FDS_PER_LINE, MAX_LINE_BYTES, parseHandoverReply, parseTakeoverRequest, type ListenerEntry, type RolePorts,
} from '../../../../src/agent/handover/handover-protocol.js';

const PORTS: RolePorts = { outbound: 15001, inbound: 15006, tunnel: 15008, readiness: 15021, metrics: 15020, admin: 15000 };

function entries(sets: number): ListenerEntry[] {
  const out: ListenerEntry[] = [
    { role: 'readiness', set: 0, host: '0.0.0.0', port: 15021 },
    { role: 'metrics', set: 0, host: '0.0.0.0', port: 15020 },
    { role: 'admin', set: 0, host: '127.0.0.1', port: 15000 },
  ];
  for (let s = 0; s < sets; s++) {
    out.push({ role: 'outbound', set: s, host: '0.0.0.0', port: 15001 }, { role: 'outbound', set: s, host: '::', port: 15001 });
    out.push({ role: 'inbound', set: s, host: '0.0.0.0', port: 15006 }, { role: 'tunnel', set: s, host: '0.0.0.0', port: 15008 });
  }
  return out;
}

t.test('a takeover request is checked: type, version, node, pid', async (t) => {
  t.same(parseTakeoverRequest('{"type":"takeover","version":1,"node":"n1","pid":42}', 'n1'), { type: 'takeover', version: 1, node: 'n1', pid: 42 });
  t.match(parseTakeoverRequest('hello', 'n1'), /not JSON/);
  t.match(parseTakeoverRequest('[1]', 'n1'), /not a JSON object/);
  t.match(parseTakeoverRequest('{"type":"gimme","version":1,"node":"n1","pid":42}', 'n1'), /type must be "takeover"/);
  t.match(parseTakeoverRequest('{"type":"takeover","version":2,"node":"n1","pid":42}', 'n1'), /version 2 is not 1/);
  t.match(parseTakeoverRequest('{"type":"takeover","version":1,"node":"n2","pid":42}', 'n1'), /for node "n2", this agent serves "n1"/);
  t.match(parseTakeoverRequest('{"type":"takeover","version":1,"node":"n1","pid":-1}', 'n1'), /pid must be a positive integer/);
  t.match(parseTakeoverRequest(`{"type":"takeover","pad":"${'x'.repeat(MAX_LINE_BYTES)}"}`, 'n1'), /longer than/);
});

t.test('a handover reply is checked line by line', async (t) => {
  const good = { type: 'listeners', version: 1, node: 'n1', entries: entries(1), more: false };
  const r = parseHandoverReply(JSON.stringify(good), 'n1');
  t.equal(typeof r, 'object');
  t.same(parseHandoverReply('{"type":"refused","reason":"busy"}', 'n1'), { type: 'refused', reason: 'busy' });
  t.match(parseHandoverReply('{"type":"refused"}', 'n1'), /without a reason/);
  t.match(parseHandoverReply(JSON.stringify({ ...good, node: 'n9' }), 'n1'), /from node "n9"/);
  t.match(parseHandoverReply(JSON.stringify({ ...good, more: 'yes' }), 'n1'), /more must be true or false/);
  t.match(parseHandoverReply(JSON.stringify({ ...good, entries: [{ role: 'shell', set: 0, host: '0.0.0.0', port: 1 }] }), 'n1'), /entry 0 malformed/);
  t.match(parseHandoverReply(JSON.stringify({ ...good, entries: [{ role: 'outbound', set: 0, host: '0.0.0.0', port: 0 }] }), 'n1'), /entry 0 malformed/);
  const many = Array.from({ length: MAX_FDS_PER_LINE + 1 }, () => ({ role: 'outbound', set: 0, host: '0.0.0.0', port: 15001 }));
  t.match(parseHandoverReply(JSON.stringify({ ...good, entries: many }), 'n1'), /at most 64/);
});

t.test('the entries of a whole takeover must make this agent a listener set', async (t) => {
  t.equal(entriesProblem(entries(1), PORTS), undefined);
  t.equal(entriesProblem(entries(3), PORTS), undefined, 'three worker sets');
  t.equal(entriesProblem(entries(1), { ...PORTS, outbound: 0, inbound: 0, tunnel: 0, readiness: 0, metrics: 0, admin: 0 }), undefined, 'port 0: any');
  t.match(entriesProblem([], PORTS), /no listeners/);
  t.match(entriesProblem(entries(1), { ...PORTS, tunnel: 16008 }), /tunnel listener on port 15008, this agent is configured for 16008/);
  t.match(entriesProblem(entries(1).filter((e) => e.role !== 'admin'), PORTS), /0 admin listeners/);
  t.match(entriesProblem(entries(2).filter((e) => !(e.role === 'tunnel' && e.set === 1)), PORTS), /set 1: 0 tunnel listeners/);
  t.match(entriesProblem(entries(1).filter((e) => e.role !== 'inbound'), PORTS), /set 0: 0 inbound listeners/);
  t.match(entriesProblem(entries(1).filter((e) => e.role !== 'outbound' && e.role !== 'inbound' && e.role !== 'tunnel'), PORTS), /no data listeners/);
});

t.test('lines are JSON with one newline', async (t) => {
  t.equal(encodeLine({ type: 'serving' }).toString(), '{"type":"serving"}\n');
});
