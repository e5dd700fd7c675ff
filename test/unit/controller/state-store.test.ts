/**
 * The state store: debounce (a burst makes one version, a steady stream still publishes),
 * rejection (every problem named, nothing published, the previous state kept), equal states
 * publishing nothing, monotonic versions, counters and the last error.
 */
import { mock } from 'node:test';
import t from 'tap';
import { pino } from 'pino';
import { StateStore, stateDigest, type StateStoreOptions } from '../../../src/controller/state-store.js';
import type { PublishedState } from '../../../src/controller/contracts.js';
import { buildClusterState } from '../../../src/mesh/cluster-state.js';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import type { MeshObject } from '../../../src/mesh/types.js';
import { MemorySource } from '../../helpers/memory-source.js';
import { recordingLogger } from '../../helpers/registry-rig.js';
import { sleep, waitFor } from '../../helpers/wait-for.js';

const silent = pino({ level: 'silent' });

const NS = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: demo, labels: {meshlet.io/mesh: enabled}}\n';
const NODE = 'apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\nstatus: {addresses: [{type: InternalIP, address: 198.18.0.1}]}\n';
const pod = (name: string, ip: string, labels = '{app: web}'): string =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: demo, labels: ${labels}}\nspec: {nodeName: node-a, serviceAccountName: web}\nstatus: {podIP: ${ip}}\n`;

/** Mesh objects from YAML documents. */
function objects(file: string, ...docs: string[]): MeshObject[] {
  return parseObjects(docs.join('---\n'), file);
}

function makeStore(t: { teardown(fn: () => unknown): void }, opts: Partial<StateStoreOptions> = {}): StateStore {
  const store = new StateStore({ logger: silent, debounceMs: 20, ...opts });
  t.teardown(() => store.close());
  return store;
}

/** Every state the store publishes, in order. */
function record(store: StateStore): PublishedState[] {
  const seen: PublishedState[] = [];
  store.subscribe((s) => seen.push(s));
  return seen;
}

t.test('nothing is built until every source has its first set; then one version', async (t) => {
  let clock = 1_700_000_000_000;
  const store = makeStore(t, { now: () => clock });
  const seen = record(store);
  const a = new MemorySource('a');
  const b = new MemorySource('b');
  store.addSource(a);
  store.addSource(b);
  a.set(objects('a.yaml', NS, NODE));
  await sleep(60);
  t.equal(store.current(), undefined, 'b has not delivered yet');
  t.same(store.status().waitingFor, ['b']);
  b.set(objects('b.yaml', pod('web-1', '198.18.1.11')));
  await waitFor('a version', () => store.current());
  t.equal(seen.length, 1);
  t.equal(seen[0], store.current());
  t.equal(seen[0]?.version, String(clock), 'the first version starts from the clock');
  t.equal(seen[0]?.publishedAt, clock);
  t.same(seen[0]?.state.workloads.map((w) => w.uid), ['Pod/demo/web-1'], 'objects of both sources');
  t.ok(Object.isFrozen(seen[0]));
  clock -= 10_000; // the clock steps back: versions still grow
  b.set(objects('b.yaml', pod('web-1', '198.18.1.12')));
  await waitFor('a second version', () => seen.length === 2);
  t.equal(seen[1]?.version, String(Number(seen[0]?.version) + 1));
  t.same(store.status(), { versionsPublished: 2, rejections: 0, lastError: undefined, lastErrorAt: undefined, excluded: [], waitingFor: [] });
});

t.test('a burst of changes makes one version with the last set', async (t) => {
  const store = makeStore(t, { debounceMs: 150 });
  const seen = record(store);
  const source = new MemorySource();
  store.addSource(source);
  for (let i = 0; i < 10; i++) {
    source.set(objects('m.yaml', NS, NODE, pod('web', `198.18.1.${10 + i}`)));
    await sleep(2);
  }
  await waitFor('a version', () => seen.length > 0);
  await sleep(300);
  t.equal(seen.length, 1, 'one version for the burst');
  t.same(seen[0]?.state.workloads[0]?.addresses, ['198.18.1.19'], 'the last set won');
});

t.test('a steady stream of changes still publishes, at most maxDelayMs apart', async (t) => {
  // Simulated time (the store's clock and its timers), so a loaded machine changes nothing:
  // a change every 15 ms for 450 ms never lets the 40 ms debounce elapse, and the 100 ms bound
  // publishes anyway, at 100, 200, 300 and 400 ms.
  mock.timers.enable({ apis: ['setTimeout'] });
  t.teardown(() => mock.timers.reset());
  let clock = 0;
  const store = makeStore(t, { debounceMs: 40, maxDelayMs: 100, now: () => clock });
  const seen = record(store);
  const source = new MemorySource();
  store.addSource(source);
  const at: number[] = [];
  let i = 0;
  while (clock < 450) {
    source.set(objects('m.yaml', NS, NODE, pod('web', `198.18.1.${10 + (i++ % 200)}`)));
    clock += 15;
    const before = seen.length;
    mock.timers.tick(15);
    if (seen.length > before) at.push(clock);
  }
  t.same(at, [105, 210, 315, 420], `published every maxDelayMs while the changes kept coming (${seen.length} versions for ${i} changes)`);
});

t.test('an invalid set is rejected naming every problem; the previous state stays; a fix publishes', async (t) => {
  const { logger, lines } = recordingLogger();
  const store = makeStore(t, { logger });
  const seen = record(store);
  const source = new MemorySource('yaml:/etc/mesh');
  store.addSource(source);
  source.set(objects('m.yaml', NS, NODE, pod('web', '198.18.1.10')));
  const good = await waitFor('the first version', () => store.current());
  const problems = [
    { kind: 'content' as const, text: 'm.yaml:9 (document 3): Pod demo/web: status.podIP: must be an IPv4 or IPv6 address, got "x"' },
    { kind: 'content' as const, text: 'n.yaml:4 (document 1): Service demo/s: spec.ports[0].port: must be a port number 1..65535, got 0' },
  ];
  source.set([], problems);
  await waitFor('a rejection', () => store.status().rejections === 1);
  t.equal(store.current(), good, 'the previous state stays');
  t.equal(seen.length, 1, 'nothing published');
  const status = store.status();
  t.equal(status.lastError?.code, 'MESHLET_ERR_OBJECT_INVALID');
  t.same(status.lastError?.details, problems.map((p) => p.text));
  t.type(status.lastErrorAt, 'number');
  const logged = lines.find((l) => l['level'] === 50);
  t.match(logged?.['msg'], /^registry state rejected; the previous state stays in effect: 2 problems in mesh objects:\n {2}- m\.yaml:9/);
  t.same(logged?.['problems'], problems.map((p) => p.text), 'the log line lists every problem');
  t.equal(logged?.['version'], good.version, 'and names the version still in effect');

  // A conflict between otherwise valid objects is a rejection too.
  source.set(objects('m.yaml', NS, NODE, pod('web', '198.18.1.10'), pod('copy', '198.18.1.10')));
  await waitFor('a second rejection', () => store.status().rejections === 2);
  t.equal(store.status().lastError?.code, 'MESHLET_ERR_OBJECT_CONFLICT');
  t.match(store.status().lastError?.message, /duplicate address 198\.18\.1\.10: Pod demo\/copy in m\.yaml \(document 4\) and Pod demo\/web in m\.yaml \(document 3\)/);
  t.equal(store.current(), good);

  source.set(objects('m.yaml', NS, NODE, pod('web', '198.18.1.10'), pod('copy', '198.18.1.11')));
  await waitFor('the fix published', () => seen.length === 2);
  t.equal(store.status().lastError, undefined, 'the error is cleared');
  t.equal(store.status().rejections, 2, 'the count stays');
});

t.test('the same rejection again is logged once', async (t) => {
  const { logger, lines } = recordingLogger();
  const store = makeStore(t, { logger });
  const source = new MemorySource();
  store.addSource(source);
  const problem = { kind: 'syntax' as const, text: 'm.yaml:1:1 (document 1): YAML syntax error: bad' };
  for (let i = 0; i < 3; i++) {
    source.set([], [problem]);
    store.flush();
  }
  t.equal(store.status().rejections, 3);
  t.equal(lines.filter((l) => l['level'] === 50).length, 1);
  t.equal(store.status().lastError?.code, 'MESHLET_ERR_YAML_PARSE');
});

t.test('a set that gives an equal state publishes nothing', async (t) => {
  const store = makeStore(t);
  const seen = record(store);
  const source = new MemorySource();
  store.addSource(source);
  source.set(objects('a.yaml', NS, NODE, pod('web', '198.18.1.10', '{app: web, tier: front}')));
  await waitFor('a version', () => seen.length === 1);
  // Same objects: from other files, in another order, labels written in another order.
  source.set(objects('b.yaml', pod('web', '198.18.1.10', '{tier: front, app: web}'), NODE, NS));
  t.equal(store.flush(), undefined);
  t.equal(seen.length, 1, 'no new version');
  t.equal(store.status().versionsPublished, 1);
  source.set(objects('b.yaml', pod('web', '198.18.1.10', '{tier: back, app: web}'), NODE, NS));
  t.ok(store.flush(), 'a real change publishes');
});

t.test('excluded objects are reported in the status; the rest applies', async (t) => {
  const store = makeStore(t);
  const source = new MemorySource('kubernetes');
  store.addSource(source);
  const excluded = [{ kind: 'content' as const, text: 'kubernetes:Pod/demo/bad (document 1): Pod demo/bad: status.podIP: must be an IPv4 or IPv6 address, got "x"' }];
  source.set(objects('k', NS, NODE, pod('web', '198.18.1.10')), [], excluded);
  const published = store.flush();
  t.ok(published);
  t.same(store.status().excluded, [excluded[0]?.text]);
});

t.test('subscribers: one that throws does not stop the others; unsubscribe; removeSource', async (t) => {
  const store = makeStore(t);
  store.subscribe(() => {
    throw new Error('boom');
  });
  const seen = record(store);
  const late: PublishedState[] = [];
  const off = store.subscribe((s) => late.push(s));
  off();
  const a = new MemorySource('a');
  const remove = store.addSource(a);
  a.set(objects('a.yaml', NODE));
  t.ok(store.flush());
  t.equal(seen.length, 1);
  t.equal(late.length, 0);
  const b = new MemorySource('b');
  store.addSource(b);
  t.equal(store.flush(), undefined, 'b is not ready');
  remove();
  b.set(objects('b.yaml', NS, pod('web', '198.18.1.10')));
  t.equal(store.flush(), undefined, 'without a, the meshed pod has no node: rejected');
  t.match(store.status().lastError?.message, /its node "node-a" has no Node object/);
});

t.test('trust domain; flush; close is idempotent and stops everything', async (t) => {
  const store = makeStore(t, { trustDomain: 'lab.local' });
  const seen = record(store);
  const source = new MemorySource();
  store.addSource(source);
  source.set(objects('a.yaml', NS, NODE, pod('web', '198.18.1.10')));
  t.equal(store.flush()?.state.workloads[0]?.identity, 'spiffe://lab.local/ns/demo/sa/web');
  store.close();
  store.close();
  source.set(objects('a.yaml', NS, NODE, pod('web', '198.18.1.11')));
  await sleep(50);
  t.equal(seen.length, 1, 'nothing after close');
  t.throws(() => store.addSource(new MemorySource()), { code: 'MESHLET_ERR_CLOSED' });
});

t.test('stateDigest ignores where objects came from, nothing else', async (t) => {
  const a = buildClusterState(objects('a.yaml', NS, NODE, pod('web', '198.18.1.10')));
  const b = buildClusterState(objects('b.yaml', pod('web', '198.18.1.10'), NS, NODE));
  const c = buildClusterState(objects('a.yaml', NS, NODE, pod('web', '198.18.1.10', '{app: web, source: x}')));
  t.equal(stateDigest(a), stateDigest(b));
  t.not(stateDigest(a), stateDigest(c), 'a label named "source" still counts');
});
