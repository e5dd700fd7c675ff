/**
 * Entry of a data-path worker process, forked by the agent's {@link WorkerPool} with
 * `child_process.fork` (not `node:cluster`: a cluster worker's `listen({ fd })` would be
 * forwarded to the primary). Everything it does is driven by the primary's messages.
 */
import { startIdleTrim } from '../../ops/idle-trim.js';
import { WorkerRuntime } from './runtime.js';
import type { ToWorker } from './protocol.js';

if (process.send === undefined) {
  process.stderr.write('meshlet worker: must be started by the agent (no IPC channel)\n');
  process.exit(70);
}

const runtime = new WorkerRuntime({
  send: (message, callback) => {
    if (process.connected) process.send?.(message, undefined, undefined, callback ?? (() => undefined));
    else callback?.(null);
  },
  exit: (code) => process.exit(code),
});

// The worker's freed malloc memory goes back to the kernel when it goes idle (idle-trim.ts).
startIdleTrim();

// Ctrl-C reaches the whole process group and systemd signals the whole cgroup: the primary
// decides when workers drain and tells them, so the signals themselves are ignored here.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
process.on('disconnect', () => runtime.onDisconnect());
process.on('message', (msg: unknown) => {
  if (msg !== null && typeof msg === 'object' && typeof (msg as { type?: unknown }).type === 'string') runtime.onMessage(msg as ToWorker);
});
