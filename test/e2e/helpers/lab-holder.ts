/**
 * Runs `withLab` in a process of its own, so tests can check the cleanup paths that end a
 * process: `node lab-holder.js --name N --then wait|exit|throw [--base-dir D]`.
 *
 * It builds a one-node, one-pod lab without agents, starts a long `sleep` in the pod, prints
 * `{"event":"up"}` and then: `wait` waits for a signal (the test sends SIGTERM or SIGINT),
 * `exit` calls `process.exit(7)` inside the callback (the exit handler must clean up),
 * `throw` throws (withLab must clean up and rethrow).
 *
 * @module
 */

import { parseArgs } from 'node:util';
import { withLab } from '../../../src/lab/index.js';

const { values } = parseArgs({
  options: { name: { type: 'string', default: 'holder' }, then: { type: 'string', default: 'wait' }, 'base-dir': { type: 'string' } },
});

const topology = {
  name: values.name,
  nodes: [{ name: 'n1' }],
  namespaces: [{ name: 'ns', labels: {} }],
  pods: [{ name: 'p1', namespace: 'ns', node: 'n1' }],
  services: [],
};

await withLab(topology, { agents: false, ...(values['base-dir'] === undefined ? {} : { baseDir: values['base-dir'] }) }, async (lab, signal) => {
  lab.spawn('p1', 'sleep', ['300']);
  process.stdout.write(`${JSON.stringify({ event: 'up', dir: lab.dir })}\n`);
  if (values.then === 'exit') process.exit(7);
  if (values.then === 'throw') throw new Error('thrown on purpose');
  // Bounded: the test sends a signal within seconds.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 60_000);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
});
