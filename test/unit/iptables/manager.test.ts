import t from 'tap';
import { pino } from 'pino';
import { backendCommands } from '../../../src/iptables/backend.js';
import { IptablesManager } from '../../../src/iptables/manager.js';
import { JUMP_INSERT } from '../../../src/iptables/rule-builder.js';
import { normalizeSaveText } from '../../../src/iptables/save-parser.js';
import { MeshletError, isMeshletError } from '../../../src/mesh/errors.js';
import { FakeNatTable, kernelAnswers } from './fake-iptables.js';
import { createFakeRunner } from './fake-runner.js';

const logger = pino({ level: 'silent' });
const nft = backendCommands('nft');
const A = '198.18.1.2';
const B = '198.18.1.3';
const C = '198.18.1.4';
const V6 = '2001:db8:1::2';

function setup(families?: readonly ('ipv4' | 'ipv6')[]) {
  const v4 = new FakeNatTable();
  const v6 = new FakeNatTable();
  // Someone else's rules, which meshlet must leave exactly as they are.
  v4.chains.set('KUBE-SERVICES', ['-d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 198.18.1.2:8080']);
  v4.chains.get('PREROUTING')?.push('-m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  const runner = createFakeRunner(kernelAnswers(v4, v6));
  const manager = new IptablesManager({ logger, runner, backend: nft, ...(families === undefined ? {} : { families }) });
  return { v4, v6, runner, manager, before: { v4: normalizeSaveText(v4.save()), v6: normalizeSaveText(v6.save()) } };
}

async function rejection(p: Promise<unknown>): Promise<MeshletError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MeshletError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

t.test('apply: one restore per family, with --noflush, the jump first', async (t) => {
  const { v4, v6, runner, manager } = setup();
  await manager.apply({ workloadIps: [A, V6] });
  t.same(runner.calls.map((c) => c.line), [
    'iptables-nft-save -t nat',
    'iptables-nft-restore -w 5 --noflush',
    'ip6tables-nft-save -t nat',
    'ip6tables-nft-restore -w 5 --noflush',
  ]);
  t.match(runner.calls[1]?.stdin, JUMP_INSERT);
  t.equal(v4.chains.get('PREROUTING')?.[0], '-p tcp -j MESHLET_PREROUTING', 'jump is rule 1, before kube-proxy');
  t.equal(v4.chains.get('PREROUTING')?.length, 2);
  t.ok(v4.chains.get('MESHLET_PREROUTING')?.includes(`-s ${A}/32 -j MESHLET_OUTBOUND`));
  t.ok(v6.chains.get('MESHLET_PREROUTING')?.includes(`-d ${V6}/128 -j MESHLET_INBOUND`));
  t.notOk(v6.chains.get('MESHLET_PREROUTING')?.some((r) => r.includes(A)), 'IPv6 holds only IPv6 addresses');
  t.ok((await manager.verify({ workloadIps: [A, V6] })).inSync);
});

t.test('apply twice: same rules, one jump, no second insert', async (t) => {
  const { v4, runner, manager } = setup();
  await manager.apply({ workloadIps: [A] });
  const first = v4.save();
  await manager.apply({ workloadIps: [A] });
  t.equal(v4.save(), first);
  t.notMatch(runner.calls[5]?.stdin, '-I PREROUTING', 'the second apply does not insert the jump');
  t.equal(v4.chains.get('PREROUTING')?.filter((r) => r.includes('MESHLET')).length, 1);
});

t.test('reconcile: a workload that left has no rules left', async (t) => {
  const { v4, manager } = setup();
  await manager.apply({ workloadIps: [A, B] });
  await manager.apply({ workloadIps: [B, C] });
  const all = [...v4.chains.values()].flat().join('\n');
  t.notMatch(all, A + '/32');
  t.match(all, C + '/32');
  t.ok((await manager.verify({ workloadIps: [C, B] })).inSync);
});

t.test('verify reports drift; apply repairs it', async (t) => {
  const { v4, manager } = setup();
  const spec = { workloadIps: [A, B] };
  await manager.apply(spec);
  const entry = v4.chains.get('MESHLET_PREROUTING') ?? [];
  entry.splice(entry.indexOf(`-d ${B}/32 -j MESHLET_INBOUND`), 1);
  v4.chains.get('MESHLET_OUTBOUND')?.unshift('-p tcp -m tcp --dport 22 -j RETURN');
  v4.chains.get('PREROUTING')?.push('-p tcp -j MESHLET_PREROUTING');
  const report = await manager.verify(spec);
  t.notOk(report.inSync);
  t.ok(report.ipv6?.inSync, 'IPv6 untouched and in sync');
  t.same(report.ipv4?.missing, [`-A MESHLET_PREROUTING -d ${B}/32 -j MESHLET_INBOUND`]);
  t.same(report.ipv4?.unexpected, [
    '-A MESHLET_OUTBOUND -p tcp -m tcp --dport 22 -j RETURN',
    '-A PREROUTING -p tcp -j MESHLET_PREROUTING (PREROUTING rule 3, duplicate jump)',
  ]);
  await manager.apply(spec);
  t.ok((await manager.verify(spec)).inSync, 'in sync after apply');
  t.same(v4.chains.get('PREROUTING')?.[1], '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
});

t.test('a jump pushed down by kube-proxy is moved back to the top', async (t) => {
  const { v4, manager } = setup();
  await manager.apply({ workloadIps: [A] });
  const pre = v4.chains.get('PREROUTING') ?? [];
  pre.unshift(pre.splice(1, 1)[0] ?? '');
  t.notOk((await manager.verify({ workloadIps: [A] })).inSync);
  await manager.apply({ workloadIps: [A] });
  t.equal(v4.chains.get('PREROUTING')?.[0], '-p tcp -j MESHLET_PREROUTING');
  t.equal(v4.chains.get('PREROUTING')?.length, 2);
});

t.test('a rejected restore throws MESHLET_ERR_IPTABLES_RESTORE with stderr; rules stay', async (t) => {
  const { v4, v6, runner, manager } = setup();
  await manager.apply({ workloadIps: [A] });
  const kept = v4.save();
  v4.failNext = 'iptables-restore: line 7 failed';
  const err = await rejection(manager.apply({ workloadIps: [B] }));
  t.equal(err.code, 'MESHLET_ERR_IPTABLES_RESTORE');
  t.match(err.message, 'iptables-restore: line 7 failed');
  t.match(err.message, 'ipv4');
  t.equal(v4.save(), kept, 'the previous IPv4 rules stay');
  t.equal(v6.restores, 1, 'IPv6 was not touched after IPv4 failed');
  t.notOk(runner.calls.slice(-1)[0]?.line.startsWith('ip6tables'), 'stopped at the failing family');
});

t.test('IPv6 fails after IPv4 applied: IPv4 is rolled back (first apply)', async (t) => {
  const { v4, v6, manager, before } = setup();
  v6.failNext = 'ip6tables-restore: no nat';
  const err = await rejection(manager.apply({ workloadIps: [A, V6] }));
  t.equal(err.code, 'MESHLET_ERR_IPTABLES_RESTORE');
  t.equal(normalizeSaveText(v4.save()), before.v4, 'IPv4 is as before apply');
  t.equal(normalizeSaveText(v6.save()), before.v6);
});

t.test('IPv6 fails after IPv4 applied: IPv4 is rolled back (reconcile, with stray jumps)', async (t) => {
  const { v4, v6, manager } = setup();
  await manager.apply({ workloadIps: [A, V6] });
  v4.chains.get('PREROUTING')?.push('-p tcp -j MESHLET_PREROUTING');
  v4.chains.get('OUTPUT')?.push('-j MESHLET_OUTBOUND');
  const previous = v4.save();
  v6.failNext = 'ip6tables-restore: boom';
  await rejection(manager.apply({ workloadIps: [B, V6] }));
  t.equal(v4.save(), previous, 'IPv4 rules, jumps included, exactly as before');
});

t.test('IPv6 save fails after IPv4 applied: IPv4 is rolled back too', async (t) => {
  const { v4, runner, manager, before } = setup();
  runner.answer('ip6tables-nft-save -t nat', { code: 1, stderr: "can't initialize ip6tables table `nat'" });
  const err = await rejection(manager.apply({ workloadIps: [A] }));
  t.equal(err.code, 'MESHLET_ERR_HOST_TOOL');
  t.equal(normalizeSaveText(v4.save()), before.v4);
});

t.test('a failed rollback is reported too', async (t) => {
  const { v4, v6, runner, manager } = setup();
  v6.failNext = 'ip6tables-restore: boom';
  runner.answer('iptables-nft-restore -w 5 --noflush', (stdin) =>
    stdin?.includes('rollback') === true ? { code: 4, stderr: 'rollback refused' } : v4.restore(stdin ?? ''),
  );
  const err = await rejection(manager.apply({ workloadIps: [A] }));
  t.equal(err.code, 'MESHLET_ERR_IPTABLES_RESTORE');
  t.match(err.message, 'rolling back ipv4 failed too');
  t.match(err.message, 'rollback refused');
});

t.test('clean removes every trace and is idempotent', async (t) => {
  const { v4, v6, runner, manager, before } = setup();
  await manager.apply({ workloadIps: [A, V6] });
  v4.chains.get('PREROUTING')?.push('-p tcp -j MESHLET_PREROUTING');
  v4.chains.get('OUTPUT')?.push('-j MESHLET_OUTBOUND');
  await manager.clean();
  t.equal(normalizeSaveText(v4.save()), before.v4);
  t.equal(normalizeSaveText(v6.save()), before.v6);
  const restores = runner.calls.filter((c) => c.line.includes('restore')).length;
  await manager.clean();
  t.equal(runner.calls.filter((c) => c.line.includes('restore')).length, restores, 'a clean netns needs no restore');
});

t.test('an invalid spec fails before any command runs', async (t) => {
  const { runner, manager } = setup();
  const err = await rejection(manager.apply({ workloadIps: ['198.18.1.999'] }));
  t.equal(err.code, 'MESHLET_ERR_CONFIG_INVALID');
  await rejection(manager.verify({ workloadIps: [], outboundPort: 0 }));
  t.same(runner.calls, []);
});

t.test('families: an IPv4-only manager never runs ip6tables', async (t) => {
  const { runner, manager } = setup(['ipv4']);
  await manager.apply({ workloadIps: [A, V6] });
  const report = await manager.verify({ workloadIps: [A, V6] });
  await manager.clean();
  t.ok(report.inSync);
  t.equal(report.ipv6, undefined);
  t.notOk(runner.calls.some((c) => c.line.startsWith('ip6tables')));
});

t.test('a failing save is MESHLET_ERR_HOST_TOOL', async (t) => {
  const { runner, manager } = setup();
  runner.answer('iptables-nft-save -t nat', { code: 1, stderr: "can't initialize iptables table `nat'" });
  const err = await rejection(manager.verify({ workloadIps: [] }));
  t.equal(err.code, 'MESHLET_ERR_HOST_TOOL');
  t.match(err.message, "can't initialize");
});

t.test('calls run one at a time', async (t) => {
  const { runner, manager } = setup();
  await Promise.all([manager.apply({ workloadIps: [A] }), manager.verify({ workloadIps: [A] }), manager.apply({ workloadIps: [B] })]);
  t.same(runner.calls.map((c) => c.line.split(' ')[0]), [
    'iptables-nft-save', 'iptables-nft-restore', 'ip6tables-nft-save', 'ip6tables-nft-restore',
    'iptables-nft-save', 'ip6tables-nft-save',
    'iptables-nft-save', 'iptables-nft-restore', 'ip6tables-nft-save', 'ip6tables-nft-restore',
  ]);
  const err = await rejection(Promise.all([manager.apply({ workloadIps: ['bad'] }), manager.apply({ workloadIps: [A] })]));
  t.ok(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'));
  t.ok((await manager.verify({ workloadIps: [A] })).inSync, 'a failed call does not block the next');
});

t.test('the backend is detected once when not given; create() detects at once', async (t) => {
  const v4 = new FakeNatTable();
  const v6 = new FakeNatTable();
  const runner = createFakeRunner({ ...kernelAnswers(v4, v6), 'iptables-nft --version': { stdout: 'iptables v1.8.9 (nf_tables)' } });
  const manager = await IptablesManager.create({ logger, runner });
  t.equal((await manager.backend()).kind, 'nft');
  await manager.apply({ workloadIps: [A] });
  await manager.verify({ workloadIps: [A] });
  t.equal(runner.calls.filter((c) => c.line.endsWith('--version')).length, 3, 'one detection (three probes)');
  const broken = createFakeRunner({});
  await t.rejects(IptablesManager.create({ logger, runner: broken }), { code: 'MESHLET_ERR_IPTABLES_BACKEND' });
  const lazy = new IptablesManager({ logger, runner: broken });
  await t.rejects(lazy.verify({ workloadIps: [] }), { code: 'MESHLET_ERR_IPTABLES_BACKEND' });
  broken.answer('iptables --version', { stdout: 'iptables v1.8.9 (nf_tables)' });
  t.equal((await lazy.backend()).kind, 'nft', 'a failed detection is retried');
});
