/**
 * The return path through the real kernel, in a netns this test makes: apply puts the mangle
 * chain, the ip rule and the local route in place (both families), verify finds each piece
 * someone removed, a second apply repairs it, and clean removes every trace.
 */
import t from 'tap';
import { pino } from 'pino';
import { IptablesManager } from '../../../src/iptables/manager.js';
import { DEFAULT_RETURN_PATH } from '../../../src/iptables/return-path.js';
import { requireNamespaces } from '../helpers/require-root.js';
import { createNetns, inNetns } from './netns-fixture.js';

const logger = pino({ level: 'silent' });

if (requireNamespaces(t)) {
  t.test('apply, verify, repair and clean the return path', async (t) => {
    const netns = createNetns(t);
    // IPv6 refuses a route via a device that is down.
    inNetns(netns, 'ip', ['link', 'set', 'lo', 'up']);
    const manager = await IptablesManager.create({ logger, netns, returnPath: DEFAULT_RETURN_PATH });
    await manager.apply({ workloadIps: ['198.18.10.2', '2001:db8:10::2'] });
    const first = await manager.verify({ workloadIps: ['198.18.10.2', '2001:db8:10::2'] });
    t.equal(first.inSync, true, JSON.stringify(first));
    t.match(inNetns(netns, 'iptables-save', ['-t', 'mangle']), /-A PREROUTING -p tcp -j MESHLET_RETURN\n/);
    t.match(inNetns(netns, 'ip', ['rule', 'show']), /32000:\s+from all fwmark 0x1000\/0x1000 lookup 1533/);
    t.match(inNetns(netns, 'ip', ['-6', 'route', 'show', 'table', '1533']), /^local default dev lo/);

    inNetns(netns, 'ip', ['rule', 'del', 'fwmark', '0x1000/0x1000', 'lookup', '1533', 'pref', '32000']);
    inNetns(netns, 'ip', ['-6', 'route', 'del', 'local', 'default', 'dev', 'lo', 'table', '1533']);
    const drifted = await manager.verify({ workloadIps: ['198.18.10.2', '2001:db8:10::2'] });
    t.equal(drifted.inSync, false);
    t.same(drifted.returnPath?.ipv4?.missing, ['ip rule add fwmark 0x1000/0x1000 lookup 1533 pref 32000']);
    t.same(drifted.returnPath?.ipv6?.missing, ['ip -6 route replace local default dev lo table 1533']);
    t.equal(drifted.ipv4?.inSync, true, 'the nat capture rules are untouched');

    await manager.apply({ workloadIps: ['198.18.10.2', '2001:db8:10::2'] });
    t.equal((await manager.verify({ workloadIps: ['198.18.10.2', '2001:db8:10::2'] })).inSync, true, 'apply repaired both');
    await manager.apply({ workloadIps: ['198.18.10.2', '2001:db8:10::2'] });
    t.equal(inNetns(netns, 'ip', ['rule', 'show']).match(/fwmark 0x1000\/0x1000/g)?.length, 1, 're-applying adds no second rule');

    await manager.clean();
    t.notMatch(inNetns(netns, 'iptables-save', ['-t', 'mangle']), /MESHLET_RETURN/);
    t.notMatch(inNetns(netns, 'ip6tables-save', ['-t', 'mangle']), /MESHLET_RETURN/);
    t.notMatch(inNetns(netns, 'ip', ['rule', 'show']), /fwmark 0x1000/);
    t.notMatch(inNetns(netns, 'ip', ['-6', 'rule', 'show']), /fwmark 0x1000/);
    t.equal(inNetns(netns, 'ip', ['route', 'show', 'table', '1533']).trim(), '', 'the local route is gone');
    await manager.clean();
    t.equal((await manager.verify({ workloadIps: [] })).inSync, false, 'after clean nothing is in place (and a second clean is harmless)');
  });
}
