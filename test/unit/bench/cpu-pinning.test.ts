import t from 'tap';
import { benchOptions, SCALING_DEFAULT_SCENARIOS } from '../../../bench/bench-options.js';
import { cpuPinning, describePinning, formatCpuList, parseCpuList, parseCpusAllowed, pinnedCommand, pinningMismatches } from '../../../bench/cpu-pinning.js';
import { isMeshletError } from '../../../src/mesh/errors.js';

const TWO = (): number[] => [0, 1];
const FOUR = (): number[] => [0, 1, 2, 3];

/** The problems benchOptions lists for these flags (none: it returned). */
function problems(flags: Record<string, unknown>, online: () => number[] = TWO): readonly string[] {
  try {
    benchOptions(flags, online);
    return [];
  } catch (err) {
    return isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID') ? err.details : [`not a configuration error: ${String(err)}`];
  }
}

t.test('CPU lists: the kernel and taskset format, both ways', async (t) => {
  t.same(parseCpuList('0'), [0]);
  t.same(parseCpuList('0-1\n'), [0, 1], 'as /sys/devices/system/cpu/online prints it');
  t.same(parseCpuList('3,0-1,1'), [0, 1, 3], 'sorted, each CPU once');
  for (const bad of ['', 'a', '1-', '-1', '2-1', '0,,1', '1.5', '0-99999']) t.equal(parseCpuList(bad), undefined, `${JSON.stringify(bad)} is refused`);
  t.equal(formatCpuList([3, 0, 1, 2, 7, 5, 6]), '0-3,5-7');
  t.equal(formatCpuList([1]), '1');
  t.same(parseCpusAllowed('Name:\tnode\nCpus_allowed:\t2\nCpus_allowed_list:\t1\nMems_allowed:\t1\n'), [1]);
  t.equal(parseCpusAllowed('Name:\tnode\n'), undefined);
});

t.test('--pin: the default split, one list given, both given', async (t) => {
  t.equal(benchOptions({}, TWO).pin, undefined, 'no pinning unless asked');
  t.same(benchOptions({ pin: true }, TWO).pin, { proxies: [1], load: [0] }, 'on 2 CPUs: proxies on 1, the rest on 0');
  t.same(benchOptions({ pin: true }, FOUR).pin, { proxies: [2, 3], load: [0, 1] }, 'the upper half for the proxies');
  t.same(benchOptions({ pin: true }, () => [0, 1, 2]).pin, { proxies: [2], load: [0, 1] }, 'an odd count leaves the extra CPU to the load');
  t.same(benchOptions({ pinProxies: '0' }, TWO).pin, { proxies: [0], load: [1] }, '--pin-proxies implies --pin; the load gets the rest');
  t.same(benchOptions({ pinLoad: '0,1' }, FOUR).pin, { proxies: [2, 3], load: [0, 1] }, '--pin-load alone: the proxies get the rest');
  t.same(benchOptions({ pin: true, pinProxies: '3', pinLoad: '0' }, FOUR).pin, { proxies: [3], load: [0] }, 'both given: CPUs may stay unused');
  t.same(benchOptions({ pin: true }, TWO).onlineCpus, [0, 1]);
  t.ok(Object.isFrozen(benchOptions({ pin: true }, TWO).pin));
});

t.test('--pin: bad lists, absent CPUs, overlaps and empty sides are named, each at once', async (t) => {
  t.match(problems({ pinProxies: 'one' }), [/--pin-proxies takes a CPU list like "1" or "0,2-3", got "one"/]);
  t.match(problems({ pinLoad: '2' }), [/--pin-load names CPU 2, not online on this machine \(online: 0-1\)/]);
  t.match(problems({ pinProxies: '0-1', pinLoad: '1' }), [/overlap on CPU 1/]);
  t.match(problems({ pinProxies: '0-1' }), [/--pin-proxies 0-1 leaves no online CPU for the load/]);
  t.match(problems({ pinLoad: '0-1' }), [/--pin-load 0-1 leaves no online CPU for the proxies/]);
  t.match(problems({ pin: true }, () => [0]), [/--pin needs at least 2 online CPUs .* this machine has 1/]);
  t.equal(problems({ pinProxies: 'x', pinLoad: '9', rounds: '0' }).length, 3, 'every bad flag listed');
  const direct: string[] = [];
  t.equal(cpuPinning({ pin: false }, [0, 1], direct), undefined);
  t.same(direct, []);
});

t.test('--scaling: counts, the default scenarios, what it excludes', async (t) => {
  const o = benchOptions({ scaling: '1,2', quick: true }, TWO);
  t.same(o.scaling, [1, 2]);
  t.same(o.only, SCALING_DEFAULT_SCENARIOS, 'bulk-8, http-rps and latency-10000 unless --only says');
  t.same(benchOptions({ scaling: '1, 2,4', only: 'bulk-8' }, TWO).only, ['bulk-8']);
  t.same(benchOptions({ scaling: '1,2', only: 'bulk-8' }, TWO).scaling, [1, 2]);
  t.equal(benchOptions({}, TWO).scaling, undefined);
  for (const bad of ['', '0', '2,1', '1,1', '1,x', '1.5', '65', '1,2,3,4,5,6,7,8,9', '-1']) {
    t.match(problems({ scaling: bad }), [/--scaling takes up to 8 ascending worker counts from 1 to 64/], `${JSON.stringify(bad)} is refused`);
  }
  t.match(problems({ scaling: '1,2', workers: '2' }), [/--scaling sets the workers and HAProxy threads of each run/]);
  t.match(problems({ scaling: '1,2', haproxyThreads: '2' }), [/drop --workers and --haproxy-threads/]);
  t.match(problems({ scaling: '1,2', profile: true }), [/--scaling and --profile exclude each other/]);
  t.match(problems({ scaling: '1,2', only: 'authz-1000' }), [/authz-1000 has no workers/]);
});

t.test('the pinned command and the check that pinning took', async (t) => {
  t.same(pinnedCommand([1], 'haproxy', ['-db', '-f', 'x.cfg']), { command: 'taskset', args: ['-c', '1', 'haproxy', '-db', '-f', 'x.cfg'] });
  t.same(pinnedCommand([2, 3], '/usr/bin/node', ['main.js']), { command: 'taskset', args: ['-c', '2-3', '/usr/bin/node', 'main.js'] });
  t.same(pinnedCommand(undefined, 'haproxy', ['-db']), { command: 'haproxy', args: ['-db'] }, 'unpinned: the command itself');
  const allowed = new Map<number, number[]>([
    [10, [1]],
    [11, [0, 1]],
    [12, [0]],
  ]);
  const bad = pinningMismatches(
    [
      { what: 'agent', pid: 10, cpus: [1] },
      { what: 'worker', pid: 11, cpus: [1] },
      { what: 'server', pid: 12, cpus: [0] },
      { what: 'gone', pid: 13, cpus: [0] },
    ],
    (pid) => allowed.get(pid),
  );
  t.same(bad, ['worker (pid 11) runs on CPU 0-1, not 1'], 'only the process off its set; one that exited is not counted');
  t.match(describePinning({ proxies: [1], load: [0] }, 2), /proxies \(agents with their workers, HAProxy\) on CPU 1; load generators, servers and the harness on CPU 0/);
  t.match(describePinning(undefined, 2), /^none .* all 2 CPUs/);
});
