/**
 * A stand-in for the meshlet agent, for tests of the lab's agent handling:
 * `node fake-agent.js --node N [--ready-after-ms 100] [--never-ready] [--exit-code C] [--ignore-sigterm]`.
 *
 * It prints pino-style JSON lines on stdout: a start line, then (unless `--never-ready`) the
 * `"msg":"agent ready"` line with the IPv4 addresses it sees, so a test can check that it runs
 * inside the node's namespace. On SIGTERM it logs `draining` and exits 0 (unless
 * `--ignore-sigterm`, to test the SIGKILL fallback). `--exit-code` makes it fail at once.
 *
 * @module
 */

import { networkInterfaces } from 'node:os';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    node: { type: 'string', default: '' },
    'ready-after-ms': { type: 'string', default: '100' },
    'never-ready': { type: 'boolean', default: false },
    'exit-code': { type: 'string' },
    'ignore-sigterm': { type: 'boolean', default: false },
    config: { type: 'string' },
  },
});

function log(msg: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ level: 'info', time: new Date().toISOString(), pid: process.pid, node: values.node, msg, ...extra })}\n`);
}

log('agent starting');
if (values['exit-code'] !== undefined) {
  process.stderr.write('fake agent: failing on purpose\n');
  process.exit(Number(values['exit-code']));
}
const addresses = Object.values(networkInterfaces())
  .flatMap((list) => list ?? [])
  .filter((a) => a.family === 'IPv4')
  .map((a) => a.address);
// Keeps the process alive until a signal; bounded so a leaked fake agent cannot live forever.
const life = setTimeout(() => process.exit(2), 10 * 60_000);
if (!values['never-ready']) setTimeout(() => log('agent ready', { addresses }), Number(values['ready-after-ms']));
process.on('SIGTERM', () => {
  if (values['ignore-sigterm']) return log('ignoring SIGTERM');
  log('draining');
  clearTimeout(life);
  process.exit(0);
});
