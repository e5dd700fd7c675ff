import t from 'tap';
import { Command } from 'commander';
import { pino } from 'pino';
import { registerIptablesCommand } from '../../../src/cli/iptables-command.js';
import { normalizeSaveText } from '../../../src/iptables/save-parser.js';
import { requireNamespaces } from '../helpers/require-root.js';
import { createNetns, inNetns } from './netns-fixture.js';

// `meshlet iptables` with --netns and the default runner, end to end through the kernel.
class ExitSignal extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

async function meshlet(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const program = new Command('meshlet').exitOverride().configureOutput({
    writeOut: (s) => void (stdout += s),
    writeErr: (s) => void (stderr += s),
  });
  registerIptablesCommand(program, {
    createLogger: () => pino({ level: 'silent' }),
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    exit: (code) => {
      throw new ExitSignal(code);
    },
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    if (err instanceof ExitSignal) return { code: err.code, stdout, stderr };
    throw err;
  }
}

if (requireNamespaces(t)) {
  t.test('apply, verify, drift, clean through the CLI', async (t) => {
    const netns = createNetns(t);
    const save = (): string => normalizeSaveText(inNetns(netns, 'iptables-save', ['-t', 'nat']));
    const before = save();
    const ips = ['--workload-ip', '198.18.20.2', '2001:db8:20::2', '--exclude-outbound-port', '5432'];
    const applied = await meshlet('iptables', 'apply', '--netns', netns, ...ips);
    t.equal(applied.code, 0, applied.stderr);
    t.match(save(), '-A MESHLET_OUTBOUND -p tcp -m tcp --dport 5432 -j RETURN');
    t.equal((await meshlet('iptables', 'verify', '--netns', netns, ...ips)).code, 0);
    inNetns(netns, 'iptables', ['-t', 'nat', '-D', 'PREROUTING', '-p', 'tcp', '-j', 'MESHLET_PREROUTING']);
    const drift = await meshlet('iptables', 'verify', '--netns', netns, ...ips);
    t.equal(drift.code, 1);
    t.match(drift.stdout, 'ipv4: drift\n  missing:    -A PREROUTING -p tcp -j MESHLET_PREROUTING');
    t.equal((await meshlet('iptables', 'clean', '--netns', netns)).code, 0);
    t.equal(save(), before);
  });
}
