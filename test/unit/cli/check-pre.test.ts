/**
 * `meshlet check --pre` (src/cli/check-pre.ts, check-command.ts) with injected probes: every
 * check passes, and each failure is named with what to do, and makes the exit code 1.
 */
import t from 'tap';
import type { CommandRunner } from '../../../src/iptables/runner.js';
import { check, render } from '../../../src/cli/check-command.js';
import { nodeChecks } from '../../../src/cli/status-command.js';
import { AGENT_PORTS, checkRoot, checkRuntime, preInstallChecks, type PreProbes } from '../../../src/cli/check-pre.js';

/** A host where `iptables-nft` works and the legacy flavour does not (or nothing, with `none`). */
function hostRunner(none = false): CommandRunner {
  return {
    run: async (command) => {
      if (none) return { code: 127, stdout: '', stderr: `${command}: not found` };
      if (command === 'iptables-nft' || command === 'iptables') return { code: 0, stdout: 'iptables v1.8.9 (nf_tables)', stderr: '' };
      if (command.startsWith('iptables-nft-save') || command.startsWith('ip6tables-nft-save')) return { code: 0, stdout: '', stderr: '' };
      return { code: 127, stdout: '', stderr: `${command}: not found` };
    },
  };
}

function probes(over: Partial<PreProbes> = {}): PreProbes & { natTried: string[] } {
  const natTried: string[] = [];
  return {
    nodeVersion: 'v24.22.3',
    uid: 0,
    host: hostRunner(),
    tryNat: async (restore) => {
      natTried.push(restore);
      return undefined;
    },
    tryBind: async () => undefined,
    natTried,
    ...over,
  };
}

function io(): { stdout: (s: string) => void; stderr: (s: string) => void; exit: (c: number) => void; out: string[] } {
  const out: string[] = [];
  return { stdout: (s) => out.push(s), stderr: () => undefined, exit: () => undefined, out };
}

t.test('a host that has everything: every line ✔, exit 0', async (t) => {
  const p = probes();
  const results = await preInstallChecks(p);
  t.same(results.filter((r) => r.outcome !== 'ok'), [], 'nothing fails');
  t.same(results.map((r) => r.name), ['Node.js', 'privileges', 'iptables', 'nat table', ...AGENT_PORTS.map((a) => `port ${a.port}`)]);
  t.same(p.natTried, ['iptables-nft-restore'], 'the nat probe uses the detected backend');
  const out = io();
  t.equal(await check(out, { pre: true, output: 'text' }, probes()), 0);
  t.match(out.out.join(''), /^✔ nat table: /m);
  t.match(out.out.join(''), /\nStatus check results are ✔\n$/);
});

t.test('each failure is named, with what to do, and exits 1', async (t) => {
  t.match(checkRuntime('v20.11.0'), { outcome: 'fail', detail: 'v20.11.0 is older than 20.18' });
  t.match(checkRuntime('v20.18.0'), { outcome: 'ok' });
  t.match(checkRuntime('v22.1.0'), { outcome: 'ok' });
  t.match(checkRoot(1000), { outcome: 'fail', detail: 'running as uid 1000, not root' });

  const busy = await preInstallChecks(probes({ tryBind: async (port) => (port === 15008 ? 'EADDRINUSE' : undefined) }));
  t.match(busy.find((r) => r.name === 'port 15008'), { outcome: 'fail', detail: 'cannot bind 0.0.0.0:15008 (tunnel): EADDRINUSE', hint: /another process holds it/ });
  t.equal(busy.filter((r) => r.outcome === 'fail').length, 1, 'only that port');

  const noNat = await preInstallChecks(probes({ tryNat: async () => 'iptables-nft-restore exited 1: RULE_APPEND failed (No such file or directory)' }));
  t.match(noNat.find((r) => r.name === 'nat table'), { outcome: 'fail', detail: /RULE_APPEND failed/, hint: /nf_nat/ });

  const noIptables = await preInstallChecks(probes({ host: hostRunner(true) }));
  t.match(noIptables.find((r) => r.name === 'iptables'), { outcome: 'fail', detail: /no usable iptables backend/, hint: /apt-get install iptables/ });
  t.match(noIptables.find((r) => r.name === 'nat table'), { outcome: 'fail', detail: 'not tried: no iptables backend' });

  const p = probes({ uid: 1000 });
  const user = await preInstallChecks(p);
  t.match(user.find((r) => r.name === 'nat table'), { outcome: 'warn' }, 'the nat probe needs root: a warning, not tried');
  t.same(p.natTried, [], 'no scratch namespace without root');

  const out = io();
  t.equal(await check(out, { pre: true, output: 'json' }, probes({ tryBind: async () => 'EADDRINUSE' })), 1, 'a failure exits 1');
  t.equal((JSON.parse(out.out.join('')) as unknown[]).length, 4 + AGENT_PORTS.length, '-o json: every check');
  t.match(render(busy), /^✖ port 15008: .*\n {4}another process holds it.*\n[\s\S]*Status check results are ✖ \(1 failed\)\n$/m);
});

t.test('the node checks: each fault named (expired certificate, drift, controller link down, not ready)', async (t) => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  const healthy = {
    dump: { version: 'v1', appliedAt: '2026-01-01T11:00:00Z', ageSeconds: 3600, controller: { connected: true, address: '198.18.0.2:15012' }, certificates: [{ identity: 'spiffe://td/ns/demo/sa/web', notBefore: '2026-01-01T00:00:00Z', notAfter: '2026-01-02T00:00:00Z' }] },
    ready: { ready: true, pending: [] },
    iptables: { managed: true, inSync: true },
    connections: 0,
    now,
  };
  t.same(nodeChecks(healthy).map((c) => [c.name, c.ok]), [['snapshot', true], ['certificates', true], ['capture rules', true], ['controller link', true], ['ready', true]]);
  const failed = (input: Parameters<typeof nodeChecks>[0]): Array<[string, string]> => nodeChecks(input).filter((c) => !c.ok).map((c) => [c.name, c.detail]);
  t.match(failed({ ...healthy, dump: { ...healthy.dump, certificates: [{ identity: 'spiffe://td/ns/demo/sa/web', notBefore: '2025-12-31T00:00:00Z', notAfter: '2026-01-01T11:00:00Z' }] } }), [['certificates', /expired 1h0m ago/]]);
  t.match(failed({ ...healthy, iptables: { managed: true, inSync: false, detail: { ipv4: { missing: ['-A X'], unexpected: [] } } } }), [['capture rules', /drifted \(ipv4 1 missing, 0 unexpected\)/]]);
  t.match(failed({ ...healthy, dump: { ...healthy.dump, controller: { connected: false, lastError: 'connect ECONNREFUSED 198.18.0.2:15012' } } }), [['controller link', /NOT connected: connect ECONNREFUSED/]]);
  t.match(failed({ ...healthy, ready: { ready: false, pending: ['certificates'] } }), [['ready', 'not ready: waiting for certificates']]);
  t.notOk(nodeChecks({ ...healthy, dump: { ...healthy.dump, controller: undefined } }).some((c) => c.name === 'controller link'), 'static mode: no controller link to check');
});
