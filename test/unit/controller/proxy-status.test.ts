/**
 * The rows of `meshlet proxy-status` (src/controller/proxy-status.ts): each agent's state
 * against the version in force, sorted by node.
 */
import t from 'tap';
import type { AgentNodeStats } from '../../../src/controller/agent-api/node-stats.js';
import { proxyStatusView, syncState } from '../../../src/controller/proxy-status.js';

const base: AgentNodeStats = {
  node: 'n',
  connected: true,
  connectedSince: new Date('2026-12-07T10:00:00Z'),
  agentVersion: '0.1.0',
  lastSentVersion: 'v2',
  lastAckedVersion: 'v2',
  lastNackVersion: undefined,
  lastNackReason: undefined,
  lastPushLatencyMs: 12,
  snapshotsSent: 2,
  deltasSent: 1,
  resyncs: 0,
  acks: 2,
  nacks: 0,
};

t.test('each state against the version in force', async (t) => {
  t.equal(syncState(base, 'v2'), 'SYNCED');
  t.equal(syncState({ ...base, lastAckedVersion: 'v1' }, 'v2'), 'STALE', 'sent, not acknowledged yet');
  t.equal(syncState(base, 'v3'), 'STALE', 'a newer version not sent yet');
  t.equal(syncState(base, undefined), 'STALE', 'no version in force: nothing to be synced with');
  t.equal(syncState({ ...base, lastNackVersion: 'v3', lastNackReason: 'no' }, 'v3'), 'NACKED');
  t.equal(syncState({ ...base, connected: false, lastNackVersion: 'v3' }, 'v3'), 'DISCONNECTED', 'gone comes first: it serves what it held');
});

t.test('rows by node, with only the fields known', async (t) => {
  const view = proxyStatusView([{ ...base, node: 'b', connected: false, connectedSince: undefined }, { ...base, node: 'a' }], 'v2', 'leader');
  t.same(view.controller, { version: 'v2', role: 'leader' });
  t.same(view.agents.map((r) => r.node), ['a', 'b']);
  t.same(view.agents[0], { node: 'a', state: 'SYNCED', connected: true, connectedSince: '2026-12-07T10:00:00.000Z', agentVersion: '0.1.0', sentVersion: 'v2', ackedVersion: 'v2', pushLatencyMs: 12, snapshotsSent: 2, deltas: 1, fullSnapshots: 1, resyncs: 0, acks: 2, nacks: 0 });
  t.notOk('connectedSince' in (view.agents[1] ?? {}), 'no time for a node that is not connected');
  t.same(proxyStatusView([], undefined, 'standby').controller, { role: 'standby' }, 'no version before the first state');
});

t.test('pushes split into deltas and full snapshots, with the resyncs', async (t) => {
  const [row] = proxyStatusView([{ ...base, snapshotsSent: 12, deltasSent: 9, resyncs: 2 }], 'v2', 'leader').agents;
  t.strictSame([row?.snapshotsSent, row?.deltas, row?.fullSnapshots, row?.resyncs], [12, 9, 3, 2]);
});
