/**
 * The persisted snapshot (issue 9, finding 8): written 0600 with a checksum, read back through
 * the snapshot decoder; a missing, corrupt, oversized or foreign file is logged and ignored,
 * never thrown.
 */
import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import {
  decodeStoredSnapshot,
  encodeStoredSnapshot,
  SNAPSHOT_FILE_FORMAT,
  SNAPSHOT_FILE_NAME,
  SnapshotStore,
} from '../../../src/agent/control/snapshot-store.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';

const EXPECT = { node: 'node1', trustDomain: 'cluster.local' };

function workload(name: string, address: string, node: string): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node,
    nodeAddress: node === 'node1' ? '198.18.0.11' : '198.18.0.12', serviceAccount: name,
    identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: { app: name }, tlsMode: 'STRICT', namedPorts: [{ name: 'http', port: 8080 }],
  };
}

function snapshot(version: string): NodeSnapshot {
  const client = workload('client', '198.18.1.10', 'node1');
  const server = workload('server', '198.18.2.10', 'node2');
  return {
    version, node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local', localWorkloads: [client], workloads: [client, server],
    services: [{
      key: 'demo/server', name: 'server', namespace: 'demo', vips: ['198.19.0.10'], ports: [{ port: 80, targetPort: 8080 }],
      endpoints: [{ workload: server.uid, address: '198.18.2.10', node: 'node2', nodeAddress: '198.18.0.12', meshed: true, identity: server.identity, targetPorts: { 80: 8080 } }],
    }],
  };
}

interface Rig {
  dir: string;
  store: SnapshotStore;
  lines: Array<Record<string, unknown>>;
  failures: string[];
}

function rig(t: { teardown(fn: () => void): void }, opts: { maxBytes?: number; dir?: string } = {}): Rig {
  const base = mkdtempSync(join(tmpdir(), 'meshlet-state-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const dir = opts.dir ?? join(base, 'state');
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const failures: string[] = [];
  const store = new SnapshotStore({ dir, logger, onFailure: (op) => void failures.push(op), ...(opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes }) });
  return { dir, store, lines, failures };
}

t.test('a saved snapshot is 0600 in a 0700 directory, carries version and checksum, and loads back equal', async (t) => {
  const r = rig(t);
  await r.store.save(snapshot('v7'));
  const path = join(r.dir, SNAPSHOT_FILE_NAME);
  t.equal(r.store.path, path);
  t.equal(statSync(path).mode & 0o777, 0o600, 'file mode 0600');
  t.equal(statSync(r.dir).mode & 0o777, 0o700, 'directory mode 0700');
  const file = JSON.parse(readFileSync(path, 'utf8')) as { format: string; version: string; sha256: string };
  t.equal(file.format, SNAPSHOT_FILE_FORMAT);
  t.equal(file.version, 'v7');
  t.match(file.sha256, /^[0-9a-f]{64}$/);
  t.same(await r.store.load(EXPECT), snapshot('v7'));
  t.same(r.failures, []);
});

t.test('an existing file with a wider mode is replaced by a 0600 one', async (t) => {
  const r = rig(t);
  mkdirSync(r.dir, { recursive: true });
  writeFileSync(r.store.path, 'old', { mode: 0o644 });
  chmodSync(r.store.path, 0o644);
  await r.store.save(snapshot('v8'));
  t.equal(statSync(r.store.path).mode & 0o777, 0o600);
});

t.test('saves in a burst: the newest is what stays', async (t) => {
  const r = rig(t);
  const saves = ['v1', 'v2', 'v3', 'v4'].map((v) => r.store.save(snapshot(v)));
  await Promise.all(saves);
  await r.store.flush();
  t.equal((await r.store.load(EXPECT))?.version, 'v4');
});

t.test('no file: nothing loaded, no failure counted', async (t) => {
  const r = rig(t);
  t.equal(await r.store.load(EXPECT), undefined);
  t.same(r.failures, []);
  t.match(r.lines.at(-1), { level: 30, msg: /no persisted snapshot/ });
});

t.test('a corrupt, foreign or unreadable file is logged with its reason and ignored, never thrown', async (t) => {
  const good = encodeStoredSnapshot(snapshot('v7'), new Date(0));
  const parsed = JSON.parse(good) as { wire: { nodeAddress: string }; version: string; format: string };
  const edited = JSON.stringify({ ...parsed, wire: { ...parsed.wire, nodeAddress: '198.18.0.99' } });
  const cases: Array<[string, string | null, RegExp]> = [
    ['empty', '', /not JSON/],
    ['garbage', '\u0000\u0001binary', /not JSON/],
    ['truncated', good.slice(0, Math.floor(good.length / 2)), /not JSON/],
    ['a JSON array', '[1,2]', /not a JSON object/],
    ['another format', JSON.stringify({ ...parsed, format: 'meshlet.agent-snapshot.v0' }), /format "meshlet.agent-snapshot.v0"/],
    ['an edited field', edited, /checksum mismatch/],
    ['a version that is not the snapshot\'s', JSON.stringify({ ...parsed, version: 'v9' }), /version "v9" is not the snapshot's "v7"/],
    ['a directory in its place', null, /cannot read|EISDIR/],
  ];
  for (const [name, text, why] of cases) {
    const r = rig(t);
    mkdirSync(r.dir, { recursive: true });
    if (text === null) mkdirSync(r.store.path);
    else writeFileSync(r.store.path, text);
    const loaded = await r.store.load(EXPECT);
    t.equal(loaded, undefined, `${name}: ignored`);
    t.same(r.failures, ['load'], `${name}: counted`);
    const line = r.lines.find((l) => l['msg'] === 'persisted snapshot ignored; captured traffic is refused until the controller sends one');
    t.match(line, { level: 50, code: 'MESHLET_ERR_STATE_FILE', path: r.store.path, err: why }, `${name}: logged`);
  }
});

t.test('another node\'s or another trust domain\'s snapshot is refused by the snapshot decoder', async (t) => {
  const text = encodeStoredSnapshot(snapshot('v7'), new Date(0));
  t.throws(() => decodeStoredSnapshot(text, { node: 'node2', trustDomain: 'cluster.local' }), { code: 'MESHLET_ERR_STATE_FILE', message: /is not this agent's node "node2"/ });
  t.throws(() => decodeStoredSnapshot(text, { node: 'node1', trustDomain: 'other.example' }), { code: 'MESHLET_ERR_STATE_FILE', message: /trust domain/ });
  t.same(decodeStoredSnapshot(text, EXPECT), snapshot('v7'));
});

t.test('a file larger than the bound is refused unread', async (t) => {
  const r = rig(t, { maxBytes: 256 });
  await r.store.save(snapshot('v7'));
  t.ok(statSync(r.store.path).size > 256, 'the saved file is past the test bound');
  t.equal(await r.store.load(EXPECT), undefined);
  t.same(r.failures, ['load']);
  t.match(r.lines.find((l) => l['level'] === 50), { code: 'MESHLET_ERR_STATE_FILE', err: /bytes, more than the 256 read at most/ });
});

t.test('a save that fails is counted every time, logged once, and never rejects', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'meshlet-state-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const blocker = join(base, 'not-a-dir');
  writeFileSync(blocker, 'x');
  const r = rig(t, { dir: join(blocker, 'state') });
  await r.store.save(snapshot('v1'));
  await r.store.save(snapshot('v2'));
  t.same(r.failures, ['save', 'save']);
  t.equal(r.lines.filter((l) => l['msg'] === 'snapshot not persisted; a restart while the controller is down would start without it').length, 1);
});
