/**
 * The idle-memory scenario's reading of an agent's own memory figures: `meshlet_process_memory_bytes`
 * summed over the agent's processes, per kind.
 */
import t from 'tap';
import { agentMemoryKindMiB } from '../../../bench/idle-memory.js';

const METRICS = [
  '# HELP meshlet_process_memory_bytes each agent process\'s memory',
  '# TYPE meshlet_process_memory_bytes gauge',
  'meshlet_process_memory_bytes{process="agent",kind="heap_total"} 10485760',
  'meshlet_process_memory_bytes{process="worker-0",kind="heap_total"} 20971520',
  'meshlet_process_memory_bytes{process="agent",kind="external"} 1048576',
  'meshlet_process_memory_bytes{process="agent",kind="heap_used"} 999999999',
  'meshlet_other{kind="heap_total"} 1073741824',
  '',
].join('\n');

t.test('sums one kind over the primary and its workers, in MiB', async (t) => {
  t.equal(agentMemoryKindMiB(METRICS, 'heap_total'), 30);
  t.equal(agentMemoryKindMiB(METRICS, 'external'), 1);
});

t.test('another family with the same label is not counted', async (t) => {
  t.ok(Number.isNaN(agentMemoryKindMiB('meshlet_other{kind="heap_total"} 1073741824\n', 'heap_total')));
});

t.test('a kind with no sample is NaN (left out of the report), not zero', async (t) => {
  t.ok(Number.isNaN(agentMemoryKindMiB(METRICS, 'array_buffers')));
  t.ok(Number.isNaN(agentMemoryKindMiB('', 'heap_total')));
});

t.test('a sample with a timestamp is read by its value', async (t) => {
  t.equal(agentMemoryKindMiB('meshlet_process_memory_bytes{process="agent",kind="external"} 2097152 1700000000000\n', 'external'), 2);
});
