import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cleanRestore, jumpEdits, meshletReferences, rollbackRestore } from '../../../src/iptables/restore-plan.js';
import { FRESH_JUMP_EDITS, JUMP_INSERT } from '../../../src/iptables/rule-builder.js';
import { parseSave } from '../../../src/iptables/save-parser.js';

const testdata = fileURLToPath(new URL('../../../../test/unit/iptables/testdata/', import.meta.url));
const inSync = parseSave(readFileSync(`${testdata}in-sync.nat.save`, 'utf8'));
const empty = parseSave('*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n');
const messy = parseSave(
  [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':MESHLET_PREROUTING - [0:0]',
    ':MESHLET_OUTBOUND - [0:0]',
    '-A PREROUTING -j KUBE-SERVICES',
    '-A PREROUTING -p tcp -j MESHLET_PREROUTING',
    '-A PREROUTING -p tcp -m comment --comment "by hand" -j MESHLET_PREROUTING',
    '-A OUTPUT -j MESHLET_OUTBOUND',
    '-A MESHLET_PREROUTING -s 198.18.1.2/32 -j MESHLET_OUTBOUND',
    'COMMIT',
  ].join('\n'),
);

t.test('references: every jump or goto into meshlet chains from outside them', async (t) => {
  t.same(meshletReferences(inSync).map((r) => r.normalized), ['-A PREROUTING -p tcp -j MESHLET_PREROUTING']);
  t.same(meshletReferences(messy).map((r) => `${r.chain}:${r.position}`), ['PREROUTING:2', 'PREROUTING:3', 'OUTPUT:1']);
  t.same(meshletReferences(empty), []);
});

t.test('apply leaves a right jump alone', async (t) => {
  t.same(jumpEdits(inSync), { deletes: [], insertJump: false });
});

t.test('apply inserts the jump in a fresh table', async (t) => {
  t.same(jumpEdits(empty), FRESH_JUMP_EDITS);
});

t.test('apply deletes every stray reference and re-inserts the jump first', async (t) => {
  t.same(jumpEdits(messy), {
    deletes: [
      '-D PREROUTING -p tcp -j MESHLET_PREROUTING',
      '-D PREROUTING -p tcp -m comment --comment "by hand" -j MESHLET_PREROUTING',
      '-D OUTPUT -j MESHLET_OUTBOUND',
    ],
    insertJump: true,
  });
});

t.test('clean removes references, then flushes, then deletes the chains', async (t) => {
  t.equal(
    cleanRestore(messy),
    [
      '# meshlet clean: remove every reference to meshlet chains, then the chains',
      '*nat',
      '-D PREROUTING -p tcp -j MESHLET_PREROUTING',
      '-D PREROUTING -p tcp -m comment --comment "by hand" -j MESHLET_PREROUTING',
      '-D OUTPUT -j MESHLET_OUTBOUND',
      '-F MESHLET_PREROUTING',
      '-F MESHLET_OUTBOUND',
      '-X MESHLET_PREROUTING',
      '-X MESHLET_OUTBOUND',
      'COMMIT',
      '',
    ].join('\n'),
  );
  t.equal(cleanRestore(empty), undefined, 'nothing to clean: no restore at all');
});

t.test('rollback of a first apply removes what it created', async (t) => {
  const text = rollbackRestore(empty, jumpEdits(empty));
  t.same(text.split('\n').filter((l) => l.startsWith('-')), [
    '-D PREROUTING -p tcp -j MESHLET_PREROUTING',
    '-F MESHLET_PREROUTING',
    '-F MESHLET_OUTBOUND',
    '-F MESHLET_INBOUND',
    '-X MESHLET_PREROUTING',
    '-X MESHLET_OUTBOUND',
    '-X MESHLET_INBOUND',
  ]);
});

t.test('rollback of a reconcile refills the previous rules and keeps the jump', async (t) => {
  const lines = rollbackRestore(inSync, jumpEdits(inSync)).split('\n');
  t.notOk(lines.some((l) => l.startsWith('-D') || l.startsWith('-I') || l.startsWith('-X')), 'the jump and chains stay');
  t.ok(lines.includes(':MESHLET_PREROUTING - [0:0]'));
  t.equal(lines.filter((l) => l.startsWith('-A MESHLET_')).length, 8, 'every previous meshlet rule');
  t.ok(lines.includes('-A MESHLET_PREROUTING -s 198.18.1.3/32 -j MESHLET_OUTBOUND'));
});

t.test('rollback puts stray references back where they were', async (t) => {
  const lines = rollbackRestore(messy, jumpEdits(messy)).split('\n');
  t.same(lines.filter((l) => l.startsWith('-D') || l.startsWith('-I')), [
    '-D PREROUTING -p tcp -j MESHLET_PREROUTING',
    '-I PREROUTING 2 -p tcp -j MESHLET_PREROUTING',
    '-I PREROUTING 3 -p tcp -m comment --comment "by hand" -j MESHLET_PREROUTING',
    '-I OUTPUT 1 -j MESHLET_OUTBOUND',
  ]);
  t.ok(lines.includes('-X MESHLET_INBOUND'), 'the chain apply created goes');
  t.notOk(lines.includes('-X MESHLET_OUTBOUND'), 'chains that existed stay');
  t.ok(JUMP_INSERT.startsWith('-I PREROUTING 1 '));
});
