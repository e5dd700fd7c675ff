import t from 'tap';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TreeWatcher } from '../../../../src/controller/registry/tree-watcher.js';

async function settle(ms = 150): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

t.test('every atomic replacement of a file is seen, not only the first (Node 20 recursive watch bug)', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'meshlet-tree-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'a.yaml'), 'a');
  let events = 0;
  const w = new TreeWatcher({ root, onChange: () => void events++, onError: (err) => t.fail(err.message) });
  t.teardown(() => w.close());
  w.resync();
  for (let i = 0; i < 3; i++) {
    events = 0;
    writeFileSync(join(root, '.tmp'), `v${i}`);
    renameSync(join(root, '.tmp'), join(root, 'a.yaml'));
    await settle();
    t.ok(events > 0, `replacement ${i + 1} seen`);
  }
});

t.test('subdirectories are watched after a resync, and dropped when gone', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'meshlet-tree-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  let events = 0;
  const w = new TreeWatcher({ root, onChange: () => void events++, onError: () => undefined });
  t.teardown(() => w.close());
  w.resync();
  t.equal(w.size, 1);
  mkdirSync(join(root, 'team-a'));
  mkdirSync(join(root, '.hidden'));
  w.resync();
  t.equal(w.size, 2, 'team-a watched, .hidden not');
  await settle();
  events = 0;
  writeFileSync(join(root, 'team-a', 'pods.yaml'), 'x');
  await settle();
  t.ok(events > 0, 'a write in the subdirectory is seen');
  rmSync(join(root, 'team-a'), { recursive: true });
  w.resync();
  t.equal(w.size, 1, 'the removed subdirectory is no longer watched');
});
