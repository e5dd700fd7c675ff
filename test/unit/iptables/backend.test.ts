import t from 'tap';
import { backendCommands, detectBackend, kindFromVersion } from '../../../src/iptables/backend.js';
import { MeshletError, isMeshletError } from '../../../src/mesh/errors.js';
import { createFakeRunner, type FakeAnswer } from './fake-runner.js';

const NFT_VERSION = { stdout: 'iptables v1.8.9 (nf_tables)\n' };
const LEGACY_VERSION = { stdout: 'iptables v1.8.9 (legacy)\n' };
const RULES = (n: number): FakeAnswer => ({
  stdout: `*nat\n:PREROUTING ACCEPT [0:0]\n${Array.from({ length: n }, (_, i) => `-A PREROUTING -j X${i}\n`).join('')}COMMIT\n`,
});

function bothInstalled(extra: Record<string, FakeAnswer>): Record<string, FakeAnswer> {
  return {
    'iptables-legacy --version': LEGACY_VERSION,
    'iptables-nft --version': NFT_VERSION,
    'iptables --version': NFT_VERSION,
    'iptables-legacy-save': RULES(0),
    'ip6tables-legacy-save': RULES(0),
    'iptables-nft-save': RULES(0),
    'ip6tables-nft-save': RULES(0),
    ...extra,
  };
}

t.test('the version line names the flavour', async (t) => {
  t.equal(kindFromVersion('iptables v1.8.9 (nf_tables)'), 'nft');
  t.equal(kindFromVersion('iptables v1.8.7 (legacy)'), 'legacy');
  t.equal(kindFromVersion('iptables v1.6.1'), 'legacy', 'before 1.8 there was only legacy');
  t.equal(kindFromVersion('iptables v1.8.9'), undefined);
  t.equal(kindFromVersion('garbage'), undefined);
});

t.test('command names per flavour', async (t) => {
  t.same(backendCommands('nft'), {
    kind: 'nft',
    ipv4: { save: 'iptables-nft-save', restore: 'iptables-nft-restore' },
    ipv6: { save: 'ip6tables-nft-save', restore: 'ip6tables-nft-restore' },
  });
  t.same(backendCommands('legacy', false).ipv6, { save: 'ip6tables-save', restore: 'ip6tables-restore' });
  t.equal(backendCommands('legacy').ipv4.restore, 'iptables-legacy-restore');
});

t.test('both installed: the one holding rules wins', async (t) => {
  const legacyHeavy = createFakeRunner(bothInstalled({ 'iptables-legacy-save': RULES(40), 'ip6tables-legacy-save': RULES(3), 'iptables-nft-save': RULES(2) }));
  t.equal((await detectBackend(legacyHeavy)).kind, 'legacy', 'kube-proxy in legacy');
  const saves = (runner: typeof legacyHeavy): string[] => runner.calls.map((c) => c.line).filter((line) => line.includes('-save'));
  t.same(saves(legacyHeavy).sort(), ['ip6tables-legacy-save', 'ip6tables-nft-save', 'iptables-legacy-save', 'iptables-nft-save'], 'IPv6 rules count too: both families of both flavours are counted');
  const nftHeavy = createFakeRunner(bothInstalled({ 'ip6tables-nft-save': RULES(5), 'iptables-legacy --version': LEGACY_VERSION }));
  const chosen = await detectBackend(nftHeavy);
  t.equal(chosen.kind, 'nft');
  t.equal(chosen.ipv4.restore, 'iptables-nft-restore');
});

t.test('both installed, no rules anywhere: the default iptables decides', async (t) => {
  t.equal((await detectBackend(createFakeRunner(bothInstalled({})))).kind, 'nft');
  const legacyDefault = createFakeRunner(bothInstalled({ 'iptables --version': LEGACY_VERSION }));
  const chosen = await detectBackend(legacyDefault);
  t.equal(chosen.kind, 'legacy');
  t.equal(chosen.ipv4.save, 'iptables-legacy-save', 'suffixed names when both exist');
  const noDefault = createFakeRunner(bothInstalled({ 'iptables --version': { code: 127 } }));
  t.equal((await detectBackend(noDefault)).kind, 'nft', 'nft when even the default says nothing');
});

t.test('a save that fails counts as no rules', async (t) => {
  const runner = createFakeRunner(bothInstalled({ 'iptables-nft-save': { code: 1, stderr: 'no nf_tables' }, 'iptables-legacy-save': RULES(1) }));
  t.equal((await detectBackend(runner)).kind, 'legacy');
});

t.test('only one flavour installed: that one', async (t) => {
  const legacyOnly = createFakeRunner({ 'iptables-legacy --version': LEGACY_VERSION, 'iptables --version': LEGACY_VERSION });
  t.equal((await detectBackend(legacyOnly)).ipv4.restore, 'iptables-legacy-restore');
  t.same(legacyOnly.calls.map((c) => c.line).filter((line) => line.includes('-save')), [], 'no rule counting needed');
  const nftOnly = createFakeRunner({ 'iptables-nft --version': NFT_VERSION });
  t.equal((await detectBackend(nftOnly)).kind, 'nft');
});

t.test('no suffixed flavour: the plain commands, flavour from iptables --version', async (t) => {
  const old = createFakeRunner({ 'iptables --version': { stdout: 'iptables v1.6.1\n' } });
  const chosen = await detectBackend(old);
  t.same(chosen, backendCommands('legacy', false));
  const plainNft = createFakeRunner({ 'iptables --version': NFT_VERSION });
  t.same(await detectBackend(plainNft), backendCommands('nft', false));
});

t.test('nothing works: MESHLET_ERR_IPTABLES_BACKEND saying what each probe said', async (t) => {
  const none = createFakeRunner({ 'iptables --version': { code: 1, stderr: 'iptables: Permission denied' } });
  let caught: unknown;
  try {
    await detectBackend(none);
  } catch (err) {
    caught = err;
  }
  t.ok(isMeshletError(caught, 'MESHLET_ERR_IPTABLES_BACKEND'));
  const err = caught as MeshletError;
  t.match(err.message, 'iptables-legacy --version: exit 127');
  t.match(err.message, 'Permission denied');
  t.equal(err.details.length, 3);
  const unnamed = createFakeRunner({ 'iptables --version': { stdout: 'iptables v1.8.9\n' } });
  await t.rejects(detectBackend(unnamed), { code: 'MESHLET_ERR_IPTABLES_BACKEND', message: /naming no flavour/ });
});
