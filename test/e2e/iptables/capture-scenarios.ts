/**
 * The namespace scenarios of the capture rules, run once per backend (nft, legacy) by the
 * `capture-*.test.ts` files: every step goes through the real kernel inside a netns the test
 * creates, and the host's own rules are never touched.
 */
import type { Test } from 'tap';
import { pino } from 'pino';
import { backendCommands, type BackendKind, type IptablesBackend } from '../../../src/iptables/backend.js';
import { buildRules } from '../../../src/iptables/rule-builder.js';
import type { CaptureSpec } from '../../../src/iptables/capture-spec.js';
import type { IpFamily } from '../../../src/mesh/workload-address.js';
import { IptablesManager } from '../../../src/iptables/manager.js';
import { createCommandRunner, type CommandRunner } from '../../../src/iptables/runner.js';
import { normalizeSaveText } from '../../../src/iptables/save-parser.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { createNetns, inNetns } from './netns-fixture.js';

const logger = pino({ level: 'silent' });
const A = '198.18.10.2';
const B = '198.18.10.3';
const C = '198.18.10.4';
const A6 = '2001:db8:10::2';
const B6 = '2001:db8:10::3';

/** Rules somebody else owns, put in the netns before meshlet; they must survive untouched. */
const FOREIGN = {
  ipv4: [
    '*nat',
    ':LAB-CUSTOM - [0:0]',
    '-A LAB-CUSTOM -p udp -m udp --dport 53 -j RETURN',
    '-A PREROUTING -p udp -j LAB-CUSTOM',
    '-A PREROUTING -d 198.18.9.9/32 -p tcp -j DNAT --to-destination 198.18.9.10',
    '-A OUTPUT -d 198.18.9.9/32 -p tcp -j REDIRECT --to-ports 9999',
    'COMMIT',
    '',
  ].join('\n'),
  ipv6: ['*nat', ':LAB-CUSTOM6 - [0:0]', '-A LAB-CUSTOM6 -p udp -j RETURN', '-A PREROUTING -p udp -j LAB-CUSTOM6', 'COMMIT', ''].join('\n'),
};

/** One netns with foreign rules, a manager for it, and helpers to look inside. */
class Node {
  readonly netns: string;
  readonly runner: CommandRunner;
  readonly manager: IptablesManager;
  readonly initial: Record<IpFamily, string>;

  constructor(t: Test, readonly backend: IptablesBackend) {
    this.netns = createNetns(t);
    this.runner = createCommandRunner({ netns: this.netns });
    this.manager = new IptablesManager({ logger, runner: this.runner, backend });
    inNetns(this.netns, backend.ipv4.restore, ['--noflush'], FOREIGN.ipv4);
    inNetns(this.netns, backend.ipv6.restore, ['--noflush'], FOREIGN.ipv6);
    this.initial = { ipv4: this.save('ipv4'), ipv6: this.save('ipv6') };
  }

  /** `iptables-save -t nat`, normalised (no timestamps, no counters). */
  save(family: IpFamily): string {
    return normalizeSaveText(inNetns(this.netns, this.backend[family].save, ['-t', 'nat']));
  }

  /** A hand-made change, as an operator (or a misbehaving tool) would make it. */
  iptables(family: IpFamily, args: readonly string[]): void {
    inNetns(this.netns, `${family === 'ipv4' ? 'iptables' : 'ip6tables'}-${this.backend.kind}`, ['-t', 'nat', ...args]);
  }

  /** The rules of one chain, as saved. */
  chain(family: IpFamily, name: string): string[] {
    return this.save(family).split('\n').filter((l) => l.startsWith(`-A ${name} `));
  }
}

/** A runner that makes the kernel reject one family's restore, by adding a rule it refuses. */
function rejectingRunner(inner: CommandRunner, restoreCommand: string): CommandRunner {
  return {
    run: (command, args, options = {}) => {
      if (command !== restoreCommand || options.stdin === undefined) return inner.run(command, args, options);
      const broken = options.stdin.replace(/\nCOMMIT\n/, '\n-A MESHLET_PREROUTING -j MESHLET_NO_SUCH_CHAIN\nCOMMIT\n');
      return inner.run(command, args, { stdin: broken });
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return undefined;
}

/** Registers every scenario for `kind` on `t`. */
export function captureScenarios(t: Test, kind: BackendKind): void {
  const backend = backendCommands(kind);
  const spec = (...workloadIps: string[]): CaptureSpec => ({ workloadIps, excludeInboundPorts: [9090] });

  t.test('apply: meshlet chains, one jump first, foreign rules untouched', async (t) => {
    const node = new Node(t, backend);
    await node.manager.apply(spec(A, B, A6));
    const pre = node.chain('ipv4', 'PREROUTING');
    t.equal(pre[0], '-A PREROUTING -p tcp -j MESHLET_PREROUTING', 'the jump is rule 1');
    t.equal(pre.length, 3, 'plus the two foreign PREROUTING rules');
    t.same(node.chain('ipv4', 'MESHLET_OUTBOUND'), ['-A MESHLET_OUTBOUND -p tcp -j REDIRECT --to-ports 15001']);
    t.ok(node.chain('ipv4', 'MESHLET_PREROUTING').includes(`-A MESHLET_PREROUTING -d ${B}/32 -j MESHLET_INBOUND`));
    t.ok(node.chain('ipv6', 'MESHLET_PREROUTING').includes(`-A MESHLET_PREROUTING -s ${A6}/128 -j MESHLET_OUTBOUND`));
    t.notMatch(node.save('ipv6'), '198.18.', 'IPv6 holds only IPv6 addresses');
    t.match(node.save('ipv4'), '-A LAB-CUSTOM -p udp -m udp --dport 53 -j RETURN');
    t.ok((await node.manager.verify(spec(A, B, A6))).inSync, 'verify: in sync');
  });

  t.test('the golden output loads as is and saves back identically', async (t) => {
    const node = new Node(t, backend);
    const rendered = buildRules(spec(A, B, A6, B6));
    inNetns(node.netns, backend.ipv4.restore, ['--noflush'], rendered.ipv4);
    inNetns(node.netns, backend.ipv6.restore, ['--noflush'], rendered.ipv6);
    const report = await node.manager.verify(spec(A, B, A6, B6));
    t.same(report.ipv4, { inSync: true, missing: [], unexpected: [] }, 'rendered IPv4 rules are save-format');
    t.same(report.ipv6, { inSync: true, missing: [], unexpected: [] }, 'rendered IPv6 rules are save-format');
  });

  t.test('apply twice: the same rules and one jump', async (t) => {
    const node = new Node(t, backend);
    await node.manager.apply(spec(A, A6));
    const once = { ipv4: node.save('ipv4'), ipv6: node.save('ipv6') };
    await node.manager.apply(spec(A, A6));
    t.equal(node.save('ipv4'), once.ipv4);
    t.equal(node.save('ipv6'), once.ipv6);
    t.equal(node.chain('ipv4', 'PREROUTING').filter((r) => r.includes('MESHLET')).length, 1);
    t.equal(node.chain('ipv6', 'PREROUTING').filter((r) => r.includes('MESHLET')).length, 1);
  });

  t.test('reconcile: a workload added, one removed', async (t) => {
    const node = new Node(t, backend);
    await node.manager.apply(spec(A, B, A6));
    await node.manager.apply(spec(A, B, C, A6, B6));
    t.match(node.save('ipv4'), `-s ${C}/32`);
    t.match(node.save('ipv6'), `-d ${B6}/128`);
    await node.manager.apply(spec(C, B6));
    t.notMatch(node.save('ipv4'), new RegExp(`${A}/32|${B}/32`), 'workloads that left have no rules left');
    t.notMatch(node.save('ipv6'), `${A6}/128`);
    t.ok((await node.manager.verify(spec(C, B6))).inSync);
    t.equal(node.chain('ipv4', 'PREROUTING').filter((r) => r.includes('MESHLET')).length, 1);
  });

  t.test('drift: hand edits are reported, apply repairs them', async (t) => {
    const node = new Node(t, backend);
    await node.manager.apply(spec(A, B, A6));
    node.iptables('ipv4', ['-D', 'MESHLET_PREROUTING', '-s', `${B}/32`, '-j', 'MESHLET_OUTBOUND']);
    node.iptables('ipv4', ['-A', 'MESHLET_OUTBOUND', '-p', 'tcp', '--dport', '22', '-j', 'RETURN']);
    node.iptables('ipv4', ['-A', 'PREROUTING', '-p', 'tcp', '-j', 'MESHLET_PREROUTING']);
    node.iptables('ipv6', ['-D', 'PREROUTING', '-p', 'tcp', '-j', 'MESHLET_PREROUTING']);
    const report = await node.manager.verify(spec(A, B, A6));
    t.notOk(report.inSync);
    t.same(report.ipv4?.missing, [`-A MESHLET_PREROUTING -s ${B}/32 -j MESHLET_OUTBOUND`]);
    t.same(report.ipv4?.unexpected, [
      '-A MESHLET_OUTBOUND -p tcp -m tcp --dport 22 -j RETURN',
      '-A PREROUTING -p tcp -j MESHLET_PREROUTING (PREROUTING rule 4, duplicate jump)',
    ]);
    t.same(report.ipv6, { inSync: false, missing: ['-A PREROUTING -p tcp -j MESHLET_PREROUTING'], unexpected: [] });
    await node.manager.apply(spec(A, B, A6));
    t.ok((await node.manager.verify(spec(A, B, A6))).inSync, 'in sync after apply');
    t.match(node.save('ipv4'), '-A PREROUTING -p udp -j LAB-CUSTOM', 'foreign rules survive the repair');
  });

  t.test('a jump pushed below another rule is moved back to the top', async (t) => {
    const node = new Node(t, backend);
    await node.manager.apply(spec(A));
    node.iptables('ipv4', ['-I', 'PREROUTING', '1', '-j', 'LAB-CUSTOM']);
    t.notOk((await node.manager.verify(spec(A))).inSync);
    await node.manager.apply(spec(A));
    t.equal(node.chain('ipv4', 'PREROUTING')[0], '-A PREROUTING -p tcp -j MESHLET_PREROUTING');
    t.equal(node.chain('ipv4', 'PREROUTING')[1], '-A PREROUTING -j LAB-CUSTOM', 'the other rule stays');
  });

  t.test('clean: iptables-save is exactly as before apply', async (t) => {
    const node = new Node(t, backend);
    await node.manager.apply(spec(A, B, A6));
    await node.manager.apply(spec(B, A6, B6));
    node.iptables('ipv4', ['-A', 'PREROUTING', '-p', 'tcp', '-j', 'MESHLET_PREROUTING']);
    node.iptables('ipv4', ['-A', 'OUTPUT', '-m', 'comment', '--comment', 'by hand', '-j', 'MESHLET_OUTBOUND']);
    await node.manager.clean();
    t.equal(node.save('ipv4'), node.initial.ipv4, 'IPv4 nat table as before');
    t.equal(node.save('ipv6'), node.initial.ipv6, 'IPv6 nat table as before');
    await node.manager.clean();
    t.equal(node.save('ipv4'), node.initial.ipv4, 'clean on a clean netns is fine');
  });

  t.test('a rejected restore leaves the previous rules in effect', async (t) => {
    const node = new Node(t, backend);
    await node.manager.apply(spec(A, A6));
    const before = { ipv4: node.save('ipv4'), ipv6: node.save('ipv6') };
    const failing = new IptablesManager({ logger, backend, runner: rejectingRunner(node.runner, backend.ipv4.restore) });
    const err = await rejection(failing.apply(spec(B, B6)));
    t.ok(isMeshletError(err, 'MESHLET_ERR_IPTABLES_RESTORE'), 'MESHLET_ERR_IPTABLES_RESTORE');
    t.match((err as Error).message, 'MESHLET_NO_SUCH_CHAIN', 'the message carries the restore stderr');
    t.equal(node.save('ipv4'), before.ipv4);
    t.equal(node.save('ipv6'), before.ipv6);
  });

  t.test('IPv6 rejected after IPv4 applied: IPv4 is rolled back', async (t) => {
    const node = new Node(t, backend);
    const failing = new IptablesManager({ logger, backend, runner: rejectingRunner(node.runner, backend.ipv6.restore) });
    t.ok(isMeshletError(await rejection(failing.apply(spec(A, A6))), 'MESHLET_ERR_IPTABLES_RESTORE'));
    t.equal(node.save('ipv4'), node.initial.ipv4, 'a first apply leaves nothing behind');
    await node.manager.apply(spec(A, A6));
    node.iptables('ipv4', ['-A', 'PREROUTING', '-p', 'tcp', '-j', 'MESHLET_PREROUTING']);
    const before = node.save('ipv4');
    t.ok(isMeshletError(await rejection(failing.apply(spec(B, B6))), 'MESHLET_ERR_IPTABLES_RESTORE'));
    t.equal(node.save('ipv4'), before, 'a reconcile puts IPv4 back exactly, stray jump included');
  });
}
