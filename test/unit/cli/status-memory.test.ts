/**
 * `meshlet status`'s memory line from `/memory`: the primary's RSS and private part, the
 * workers' as a range, the sum of private memory with workers, and an older agent without
 * `/memory` said plainly.
 */
import t from 'tap';
import { memoryLine } from '../../../src/cli/status-command.js';

const MIB = 1024 * 1024;

t.test('one process: its RSS and private part', async (t) => {
  t.equal(memoryLine([{ process: 'agent', rss: 76 * MIB, rss_anon: 32 * MIB, heap_used: 20 * MIB }]), 'agent 76 MiB (32 private)');
});

t.test('with workers: each process, then the private memory of all', async (t) => {
  const rows = [
    { process: 'agent', rss: 79 * MIB, rss_anon: 33 * MIB },
    { process: 'worker-0', rss: 67 * MIB, rss_anon: 23 * MIB },
    { process: 'worker-1', rss: 67 * MIB, rss_anon: 24 * MIB },
  ];
  t.equal(memoryLine(rows), 'agent 79 MiB (33 private); 2 workers 67 MiB (23-24 private); 80 MiB private in all');
  t.equal(memoryLine(rows.slice(0, 2)), 'agent 79 MiB (33 private); 1 worker 67 MiB (23 private); 56 MiB private in all');
});

t.test('no private figure (no /proc): RSS alone', async (t) => {
  t.equal(memoryLine([{ process: 'agent', rss: 50 * MIB }]), 'agent 50 MiB');
});

t.test('no /memory, or rows without figures: unknown', async (t) => {
  t.equal(memoryLine(undefined), 'unknown (no /memory: an older agent)');
  t.equal(memoryLine([{ process: 'agent', rss: 'lots' }]), 'unknown (no /memory: an older agent)');
});
