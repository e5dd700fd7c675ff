/**
 * The old-space cap of each agent process under a cgroup memory limit: a share of the limit
 * per process, never below the floor; none when unlimited or unreadable; a clear reason for
 * a memory.max that is not a byte count.
 */
import t from 'tap';
import { HEAP_CAP_FLOOR_MIB, hasOldSpaceFlag, heapCapFor, memoryMaxPath } from '../../../src/ops/heap-cap.js';

const MIB = 1024 * 1024;

t.test('a limit is shared: 75% over the processes, in MiB', async (t) => {
  // The daemonset's 512 MiB, a primary and two workers: 512 * 0.75 / 3 = 128.
  t.same(heapCapFor(`${512 * MIB}\n`, 3), { kind: 'cap', mib: 128, limitBytes: 512 * MIB });
  t.same(heapCapFor(`${4096 * MIB}`, 4), { kind: 'cap', mib: 768, limitBytes: 4096 * MIB });
});

t.test('a tiny limit gets the floor, not less', async (t) => {
  t.same(heapCapFor(`${128 * MIB}`, 3), { kind: 'cap', mib: HEAP_CAP_FLOOR_MIB, limitBytes: 128 * MIB });
  t.same(heapCapFor('1', 1), { kind: 'cap', mib: HEAP_CAP_FLOOR_MIB, limitBytes: 1 });
});

t.test('no limit: "max", or no memory.max to read', async (t) => {
  t.same(heapCapFor('max\n', 3), { kind: 'none', why: 'memory.max is "max" (no limit)' });
  t.same(heapCapFor(undefined, 3), { kind: 'none', why: 'no cgroup v2 memory.max' });
});

t.test('garbage in memory.max is invalid, with the text in the reason', async (t) => {
  t.same(heapCapFor('lots', 2), { kind: 'invalid', why: 'memory.max is not a byte count or "max": "lots"' });
  t.same(heapCapFor('-5', 2), { kind: 'invalid', why: 'memory.max is not a byte count or "max": "-5"' });
  t.same(heapCapFor('0', 2), { kind: 'invalid', why: 'memory.max out of range: 0' });
  t.same(heapCapFor('99999999999999999999', 2), { kind: 'invalid', why: 'memory.max out of range: 99999999999999999999' });
});

t.test('the process count must be a positive integer', async (t) => {
  t.throws(() => heapCapFor('max', 0), /processes must be a positive integer, got 0/);
  t.throws(() => heapCapFor('max', 1.5), /got 1.5/);
});

t.test('memoryMaxPath follows the v2 line of /proc/self/cgroup', async (t) => {
  t.equal(memoryMaxPath('0::/kubepods/burstable/pod1/abc\n'), '/sys/fs/cgroup/kubepods/burstable/pod1/abc/memory.max');
  t.equal(memoryMaxPath('0::/\n'), '/sys/fs/cgroup/memory.max');
  t.equal(memoryMaxPath('4:memory:/docker/abc\n1:cpu:/\n'), undefined, 'cgroup v1 only: none');
});

t.test('an old-space flag already given is noticed, in either spelling', async (t) => {
  t.equal(hasOldSpaceFlag(['--max-old-space-size=256']), true);
  t.equal(hasOldSpaceFlag(['--max_old_space_size=256']), true);
  t.equal(hasOldSpaceFlag(['--max-semi-space-size=4', '--enable-source-maps']), false);
});
