/** `--workers N|auto` (env MESHLET_WORKERS): 1 by default in the library, auto = one per core, 1..64 else an error. */
import t from 'tap';
import { availableParallelism } from 'node:os';
import { loadAgentConfig, MAX_WORKERS } from '../../../src/agent/config.js';
import { MeshletError } from '../../../src/mesh/errors.js';

const base = { node: 'node1', config: '/etc/meshlet' };

t.test('default 1 (in-process); numbers, strings and auto', async (t) => {
  t.equal(loadAgentConfig(base, {}).workers, 1, 'library callers run the data path in-process');
  t.equal(loadAgentConfig({ ...base, workers: 4 }, {}).workers, 4);
  t.equal(loadAgentConfig({ ...base, workers: '3' }, {}).workers, 3);
  t.equal(loadAgentConfig({ ...base, workers: 'auto' }, {}).workers, Math.min(availableParallelism(), MAX_WORKERS));
  t.equal(loadAgentConfig(base, { MESHLET_WORKERS: '2' }).workers, 2, 'from the environment');
  t.equal(loadAgentConfig({ ...base, workers: '5' }, { MESHLET_WORKERS: '2' }).workers, 5, 'the flag wins');
});

t.test('anything else is a clear error naming the flag and the value', async (t) => {
  for (const bad of ['0', '65', '-1', '1.5', 'many', '', 'auto ', 0, 65, 2.5]) {
    try {
      loadAgentConfig({ ...base, workers: bad }, {});
      t.fail(`--workers=${JSON.stringify(bad)} accepted`);
    } catch (err) {
      t.ok(err instanceof MeshletError && err.code === 'MESHLET_ERR_CONFIG_INVALID', `--workers=${JSON.stringify(bad)} refused`);
      t.match((err as Error).message, /--workers=.*must be auto or an integer 1\.\.64/);
    }
  }
});
