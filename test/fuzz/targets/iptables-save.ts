/**
 * `iptables-save` output as the agent reads it (`parseSave`, `normalizeSaveText`) and the drift
 * comparison on top (`diffFamily`, `diffSequence`). The text comes from the host's tools and
 * holds rules other software wrote (kube-proxy, CNIs, an administrator): anything may be in it.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { diffFamily, diffSequence } from '../../../src/iptables/drift.js';
import { buildRuleSet, JUMP_RULE, type FamilyRuleSet } from '../../../src/iptables/rule-builder.js';
import { normalizeSaveText, parseSave, type SavedTable } from '../../../src/iptables/save-parser.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { textCodec, typedValueCodec } from '../corpus.js';
import { holds, noThrow, same } from '../expect.js';
import { mutatedText } from '../mutate.js';
import { property, type FuzzTarget } from '../fuzz-property.js';

const TESTDATA = fileURLToPath(new URL('../../../../test/unit/iptables/testdata/', import.meta.url));

/** The canned save of the unit tests, and the spec it is in sync with (drift.test.ts). */
function inSyncSave(): string {
  return readFileSync(`${TESTDATA}in-sync.nat.save`, 'utf8');
}
const IN_SYNC_SPEC = { workloadIps: ['198.18.1.3', '198.18.1.2'], excludeInboundPorts: [9090] };

const SAVE_TOKENS = [
  '*nat\n', '*filter\n', 'COMMIT\n', ':MESHLET_PREROUTING - [0:0]\n', ':PREROUTING ACCEPT [1:2]\n', '-A ', '-I ', '-D ', '-j ', '-g ', '-m comment --comment ',
  '"', '\\"', '\\', '[3:180] ', '[', ']', ':', '#', '\n', '\r\n', ' ', '\t', 'MESHLET_PREROUTING', 'MESHLET_INBOUND', 'MESHLET_OUTBOUND', 'PREROUTING',
  '-p tcp -j MESHLET_PREROUTING', '--dport 15008', '-s 198.18.1.2/32', '-d ::1/128', 'RETURN', 'REDIRECT --to-ports 15006',
];

function saveText(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.array(fc.constantFrom(...SAVE_TOKENS), { maxLength: 40 }).map((t) => t.join('')),
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 100 }),
  );
}

/** What a parsed table must look like whatever the text was. */
function checkTable(text: string, table: SavedTable): void {
  for (const [chain, rules] of table.rules) {
    holds(rules.length > 0, `chain ${chain} listed with no rules`);
    rules.forEach((r, i) => {
      holds(r.chain === chain, `rule of ${chain} says chain ${r.chain}`);
      holds(r.position === i + 1, `rule ${i + 1} of ${chain} has position ${r.position}`);
      holds(r.normalized === `-A ${chain}` || r.normalized.startsWith(`-A ${chain} `), `normalized ${JSON.stringify(r.normalized)} is not a rule of ${chain}`);
      // Normalizing is idempotent: a normalized rule read again is itself.
      const again = parseSave(`*nat\n${r.normalized}\nCOMMIT\n`).rules.get(chain)?.[0]?.normalized;
      holds(again === r.normalized, `normalized ${JSON.stringify(r.normalized)} reads back as ${JSON.stringify(again)}`);
      holds(text.includes(r.spec), 'a rule spec that is not in the text');
    });
  }
  if (!table.found) same([table.chains.length, table.rules.size], [0, 0], 'a table not found has no chains or rules');
}

function checkDrift(wanted: FamilyRuleSet, saved: SavedTable): void {
  const drift = noThrow(() => diffFamily(wanted, saved), 'diffFamily');
  holds(drift.inSync === (drift.missing.length === 0 && drift.unexpected.length === 0), 'inSync disagrees with the lists');
}

/** Parsing and drift never throw and keep their invariants. */
function checkSaveText(text: string): void {
  const table = noThrow(() => parseSave(text), 'parseSave');
  checkTable(text, table);
  noThrow(() => parseSave(text, 'filter'), 'parseSave(filter)');
  noThrow(() => normalizeSaveText(text), 'normalizeSaveText');
  const wanted = buildRuleSet(IN_SYNC_SPEC);
  checkDrift(wanted.ipv4, table);
  checkDrift(wanted.ipv6, table);
}

/** A capture spec and how its rules sit in a save among other software's rules. */
interface SaveScene {
  readonly workloadIps: readonly string[];
  readonly excludeInboundPorts: readonly number[];
  readonly excludeOutboundPorts: readonly number[];
  /** Lines of other software, and where they go. */
  readonly foreign: readonly { readonly line: string; readonly at: number }[];
  readonly counters: boolean;
  /** Index of one meshlet rule to delete afterwards (when there is one). */
  readonly drop: number;
}

function saveScene(): fc.Arbitrary<SaveScene> {
  const foreignLine = fc.constantFrom(
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -j KUBE-SERVICES',
    '-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "a -j MESHLET_INBOUND inside a comment" -j KUBE-SVC-X',
    '-A POSTROUTING -j MASQUERADE',
    '# a comment line',
  );
  return fc.record({
    workloadIps: fc.array(fc.oneof(fc.ipV4(), fc.ipV6()), { maxLength: 6 }),
    excludeInboundPorts: fc.array(fc.integer({ min: 1, max: 65535 }), { maxLength: 3 }),
    excludeOutboundPorts: fc.array(fc.integer({ min: 1, max: 65535 }), { maxLength: 3 }),
    foreign: fc.array(fc.record({ line: foreignLine, at: fc.nat() }), { maxLength: 5 }),
    counters: fc.boolean(),
    drop: fc.nat(),
  });
}

/** Renders `set` as `iptables-save` would show it once applied, among foreign rules. */
function renderSave(set: FamilyRuleSet, scene: SaveScene, dropRule: string | undefined): string {
  const counter = (): string => (scene.counters ? '[3:180] ' : '');
  const rules = [`${counter()}${JUMP_RULE}`, ...set.chains.flatMap((c) => c.rules).filter((r) => r !== dropRule).map((r) => counter() + r)];
  for (const f of scene.foreign) {
    // Foreign rules never go before the jump: it must stay rule 1 of PREROUTING.
    rules.splice(1 + (f.at % rules.length), 0, f.line);
  }
  return [
    '# Generated by iptables-save v1.8.9',
    '*nat',
    ':PREROUTING ACCEPT [10:600]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-SVC-X - [0:0]',
    ...set.chains.map((c) => `:${c.name} - [0:0]`),
    ...rules,
    'COMMIT',
    '',
  ].join('\n');
}

/** Applied rules read back are in sync; with one rule deleted, exactly that rule is missing. */
function checkScene(scene: SaveScene): void {
  let set;
  try {
    set = buildRuleSet({ workloadIps: scene.workloadIps, excludeInboundPorts: scene.excludeInboundPorts, excludeOutboundPorts: scene.excludeOutboundPorts });
  } catch (err) {
    // Addresses the mesh refuses (loopback, link-local, ...) or ports that clash: not a scene.
    if (isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID')) return;
    throw err;
  }
  for (const family of [set.ipv4, set.ipv6]) {
    same(diffFamily(family, parseSave(renderSave(family, scene, undefined))), { inSync: true, missing: [], unexpected: [] }, `${family.family} rules read back`);
    const all = family.chains.flatMap((c) => c.rules);
    const dropped = all[scene.drop % all.length];
    if (dropped === undefined || all.filter((r) => r === dropped).length > 1) continue;
    same(diffFamily(family, parseSave(renderSave(family, scene, dropped))), { inSync: false, missing: [dropped], unexpected: [] }, `${family.family} with ${dropped} deleted`);
  }
}

/** The LCS length of two short lists, the slow and obvious way. */
function lcsLength(a: readonly string[], b: readonly string[]): number {
  const rows = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i -= 1) {
    for (let j = b.length - 1; j >= 0; j -= 1) {
      rows[i]![j] = a[i] === b[j] ? rows[i + 1]![j + 1]! + 1 : Math.max(rows[i + 1]![j]!, rows[i]![j + 1]!);
    }
  }
  return rows[0]![0]!;
}

function isSubsequence(sub: readonly string[], of: readonly string[]): boolean {
  let i = 0;
  for (const x of of) if (i < sub.length && sub[i] === x) i += 1;
  return i === sub.length;
}

/** The diff is minimal: what both keep is a longest common subsequence. */
function checkDiffSequence([wanted, actual]: readonly [readonly string[], readonly string[]]): void {
  const { missing, unexpected } = noThrow(() => diffSequence(wanted, actual), 'diffSequence');
  holds(isSubsequence(missing, wanted), 'missing is not a subsequence of wanted');
  holds(isSubsequence(unexpected, actual), 'unexpected is not a subsequence of actual');
  const kept = wanted.length - missing.length;
  holds(kept === actual.length - unexpected.length, 'wanted and actual keep different counts');
  holds(kept === lcsLength(wanted, actual), `kept ${kept}, the longest common subsequence is ${lcsLength(wanted, actual)}`);
}

/** iptables-save parsing and drift. */
export function iptablesSaveTarget(): FuzzTarget {
  const seeds = [inSyncSave()];
  const wanted = buildRuleSet(IN_SYNC_SPEC);
  seeds.push(renderSave(wanted.ipv4, { workloadIps: [], excludeInboundPorts: [], excludeOutboundPorts: [], foreign: [], counters: true, drop: 0 }, undefined));
  return {
    name: 'iptables-save',
    description: 'iptables-save output (parseSave, normalizeSaveText) and the drift comparison (diffFamily, diffSequence)',
    properties: [
      property({ name: 'save-text', weight: 2, arbitrary: saveText(), check: checkSaveText, codec: textCodec('.save') }),
      property({ name: 'save-text-mutated', weight: 3, arbitrary: mutatedText(seeds, SAVE_TOKENS), check: checkSaveText, codec: textCodec('.save'), seeds: () => seeds }),
      property({ name: 'drift-round-trip', weight: 1, arbitrary: saveScene(), check: checkScene, codec: typedValueCodec<SaveScene>() }),
      property({
        name: 'diff-sequence',
        weight: 2,
        arbitrary: fc.tuple(fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 12 }), fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 12 })),
        check: checkDiffSequence,
        codec: typedValueCodec<readonly [readonly string[], readonly string[]]>(),
      }),
    ],
  };
}
