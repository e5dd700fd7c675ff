import t from 'tap';
import { detectBackend } from '../../../src/iptables/backend.js';
import { createCommandRunner } from '../../../src/iptables/runner.js';
import { requireNamespaces } from '../helpers/require-root.js';
import { createNetns, inNetns } from './netns-fixture.js';

// Backend detection against the real tools, inside namespaces holding rules of one flavour.
const RULES = '*nat\n:KUBE-SERVICES - [0:0]\n-A PREROUTING -j KUBE-SERVICES\n-A OUTPUT -j KUBE-SERVICES\nCOMMIT\n';

if (requireNamespaces(t)) {
  t.test('rules in legacy tables: legacy', async (t) => {
    const netns = createNetns(t);
    inNetns(netns, 'iptables-legacy-restore', ['--noflush'], RULES);
    const backend = await detectBackend(createCommandRunner({ netns }));
    t.equal(backend.kind, 'legacy');
    t.equal(backend.ipv4.restore, 'iptables-legacy-restore');
    t.equal(backend.ipv6.save, 'ip6tables-legacy-save');
  });

  t.test('rules in nf_tables: nft', async (t) => {
    const netns = createNetns(t);
    inNetns(netns, 'iptables-nft-restore', ['--noflush'], RULES);
    const backend = await detectBackend(createCommandRunner({ netns }));
    t.equal(backend.kind, 'nft');
    t.equal(backend.ipv4.restore, 'iptables-nft-restore');
  });

  t.test('no rules anywhere: the default iptables', async (t) => {
    const netns = createNetns(t);
    const version = inNetns(netns, 'iptables', ['--version']);
    const backend = await detectBackend(createCommandRunner({ netns }));
    t.equal(backend.kind, version.includes('(legacy)') ? 'legacy' : 'nft', `default is: ${version.trim()}`);
  });
}
