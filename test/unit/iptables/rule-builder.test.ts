import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CaptureSpec } from '../../../src/iptables/capture-spec.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { JUMP_INSERT, buildRuleSet, buildRules } from '../../../src/iptables/rule-builder.js';

const testdata = fileURLToPath(new URL('../../../../test/unit/iptables/testdata/', import.meta.url));
// UPDATE_GOLDEN=1 rewrites the golden files from the current builder (see docs/iptables.md).
const updateGolden = process.env['UPDATE_GOLDEN'] === '1';

const cases: Record<string, CaptureSpec> = {
  'ipv4-only': { workloadIps: ['198.18.1.10', '198.18.1.2', '198.18.2.7'] },
  'ipv6-only': { workloadIps: ['2001:db8:1::10', '2001:DB8:1:0:0:0:0:2'] },
  mixed: { workloadIps: ['2001:db8:1::2', '198.18.1.3', '198.18.1.2', 'fd00::a'] },
  'no-workloads': { workloadIps: [] },
  'excluded-ports': {
    workloadIps: ['198.18.1.2', '2001:db8:1::2'],
    excludeInboundPorts: [9090, 22, 9090],
    excludeOutboundPorts: [5432, 443],
  },
  'custom-ports': { workloadIps: ['198.18.1.2', '2001:db8:1::2'], outboundPort: 25001, inboundPort: 25006, tunnelPort: 25008 },
};

for (const [name, spec] of Object.entries(cases)) {
  t.test(`golden: ${name}`, async (t) => {
    const rendered = buildRules(spec);
    for (const family of ['ipv4', 'ipv6'] as const) {
      const file = `${testdata}${name}.${family}.golden`;
      if (updateGolden) writeFileSync(file, rendered[family]);
      t.ok(existsSync(file), `${name}.${family}.golden exists (create it with UPDATE_GOLDEN=1)`);
      if (!existsSync(file)) continue;
      t.equal(rendered[family], readFileSync(file, 'utf8'), `${name} ${family} matches its golden file`);
    }
  });
}

t.test('each family holds only its own addresses', async (t) => {
  const { ipv4, ipv6 } = buildRules(cases['mixed'] ?? { workloadIps: [] });
  t.match(ipv4, /198\.18\.1\.2\/32/);
  t.notMatch(ipv4, /2001:db8|fd00/);
  t.match(ipv6, /fd00::a\/128/);
  t.notMatch(ipv6, /198\.18/);
});

t.test('a family with no workloads still gets the chains and the jump', async (t) => {
  const { ipv6 } = buildRules({ workloadIps: ['198.18.1.2'] });
  for (const chain of ['MESHLET_PREROUTING', 'MESHLET_OUTBOUND', 'MESHLET_INBOUND']) t.match(ipv6, `:${chain} - [0:0]`);
  t.match(ipv6, JUMP_INSERT);
  t.notMatch(ipv6, / -[sd] /, 'no address rules');
});

t.test('deterministic: input order and duplicates do not change the output', async (t) => {
  const a = buildRules({ workloadIps: ['198.18.1.2', '198.18.1.10', 'fd00::2', 'fd00::10'], excludeInboundPorts: [80, 22] });
  const b = buildRules({ workloadIps: ['fd00::10', '198.18.1.10', 'FD00:0::2', '198.18.1.2', '198.18.1.2'], excludeInboundPorts: [22, 80, 22] });
  t.same(a, b);
  t.ok(a.ipv4.indexOf('198.18.1.2/32') < a.ipv4.indexOf('198.18.1.10/32'), 'addresses sort numerically, not as text');
  t.ok(a.ipv6.indexOf('fd00::2/128') < a.ipv6.indexOf('fd00::10/128'));
});

t.test('pure: the spec is not modified', async (t) => {
  const ips = ['198.18.1.3', '198.18.1.2'];
  const spec = Object.freeze({ workloadIps: Object.freeze([...ips]), excludeInboundPorts: Object.freeze([9, 1]) });
  buildRules(spec);
  t.same(spec.workloadIps, ips);
  t.same(spec.excludeInboundPorts, [9, 1]);
});

t.test('the outbound match comes before the inbound one, exclusions before capture', async (t) => {
  const set = buildRuleSet({ workloadIps: ['198.18.1.2'], excludeOutboundPorts: [53] });
  const entry = set.ipv4.chains[0]?.rules ?? [];
  const at = (needle: string): number => entry.findIndex((r) => r.includes(needle));
  t.equal(at('--dport'), -1, 'no port is exempt on every destination (the tunnel is covered by the LOCAL rule)');
  t.ok(at('--dst-type LOCAL') < at('-s 198.18.1.2'), 'node-local destinations return before capture');
  t.ok(at('-s 198.18.1.2') < at('-d 198.18.1.2'), 'workload-to-workload is captured once, outbound');
  t.same(set.ipv4.chains[1]?.rules, [
    '-A MESHLET_OUTBOUND -p tcp -m tcp --dport 53 -j RETURN',
    '-A MESHLET_OUTBOUND -p tcp -j REDIRECT --to-ports 15001',
  ]);
  t.same(set.ipv4.addresses, ['198.18.1.2']);
});

t.test('invalid addresses are rejected with the value named', async (t) => {
  for (const bad of ['198.18.1', '198.18.1.2/32', 'fe80::1%eth0', 'example.com', '::ffff:198.18.1.2', '127.0.0.1', '224.0.0.1']) {
    let caught: unknown;
    try {
      buildRules({ workloadIps: ['198.18.1.2', bad] });
    } catch (err) {
      caught = err;
    }
    t.ok(isMeshletError(caught, 'MESHLET_ERR_CONFIG_INVALID'), `${bad} rejected with MESHLET_ERR_CONFIG_INVALID`);
    t.match((caught as Error | undefined)?.message, JSON.stringify(bad), `the message names ${bad}`);
  }
});
