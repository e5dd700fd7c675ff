import t from 'tap';
import { Command } from 'commander';
import { pino } from 'pino';
import { captureSpecFromOptions, registerIptablesCommand } from '../../../src/cli/iptables-command.js';
import { EXIT_USAGE } from '../../../src/mesh/errors.js';
import { FakeNatTable, kernelAnswers } from './fake-iptables.js';
import { createFakeRunner } from './fake-runner.js';

/** Thrown by the injected exit, so a test sees the code instead of the process ending. */
class ExitSignal extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function harness() {
  const v4 = new FakeNatTable();
  const v6 = new FakeNatTable();
  const runner = createFakeRunner({ ...kernelAnswers(v4, v6), 'iptables-nft --version': { stdout: 'iptables v1.8.9 (nf_tables)' } });
  const levels: string[] = [];
  async function run(...argv: string[]): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const program = new Command('meshlet').exitOverride().configureOutput({
      writeOut: (s) => void (stdout += s),
      writeErr: (s) => void (stderr += s),
    });
    registerIptablesCommand(program, {
      createLogger: (level) => {
        levels.push(level);
        return pino({ level: 'silent' });
      },
      stdout: (s) => void (stdout += s),
      stderr: (s) => void (stderr += s),
      exit: (code) => {
        throw new ExitSignal(code);
      },
      createRunner: () => runner,
    });
    try {
      await program.parseAsync(['iptables', ...argv], { from: 'user' });
      return { code: 0, stdout, stderr };
    } catch (err) {
      if (err instanceof ExitSignal) return { code: err.code, stdout, stderr };
      throw err;
    }
  }
  return { v4, v6, runner, run, levels };
}

t.test('print renders restore input without touching anything', async (t) => {
  const { run, runner } = harness();
  const both = await run('print', '--workload-ip', '198.18.1.2', 'fd00::2', '--workload-ip', '198.18.1.3');
  t.equal(both.code, 0);
  t.match(both.stdout, /ipv4, nat table[\s\S]*198\.18\.1\.3\/32[\s\S]*ipv6, nat table[\s\S]*fd00::2\/128/);
  const v4 = await run('print', '--workload-ip', '198.18.1.2', 'fd00::2', '--family', 'ipv4', '--exclude-port', '22');
  t.notMatch(v4.stdout, 'ip6tables');
  t.match(v4.stdout, '-A MESHLET_INBOUND -p tcp -m tcp --dport 22 -j RETURN');
  t.match(v4.stdout, '-A MESHLET_OUTBOUND -p tcp -m tcp --dport 22 -j RETURN');
  t.same(runner.calls, [], 'print runs no command');
});

t.test('apply, verify, drift, clean', async (t) => {
  const { run, v4, levels } = harness();
  const ips = ['--workload-ip', '198.18.1.2', '2001:db8::2'];
  const applied = await run('apply', ...ips);
  t.equal(applied.code, 0);
  t.match(applied.stdout, 'ipv4 1 workload address(es), ipv6 1 workload address(es) (backend nft)');
  t.same(await run('verify', ...ips), { code: 0, stdout: 'ipv4: in sync\nipv6: in sync\n', stderr: '' });
  v4.chains.get('MESHLET_PREROUTING')?.pop();
  const drift = await run('verify', ...ips);
  t.equal(drift.code, 1, 'verify exits 1 on drift');
  t.match(drift.stdout, 'ipv4: drift\n  missing:    -A MESHLET_PREROUTING -d 198.18.1.2/32 -j MESHLET_INBOUND\nipv6: in sync');
  t.equal((await run('verify', ...ips, '--family', 'ipv6')).code, 0, 'ipv6 alone is in sync');
  t.equal((await run('clean')).code, 0);
  t.notOk(v4.chains.has('MESHLET_PREROUTING'));
  t.equal(levels[0], 'error', 'logs stay quiet by default: results go to stdout');
});

t.test('bad flags: exit 64, every flag and value named, nothing run', async (t) => {
  const { run, runner } = harness();
  const res = await run(
    'apply', '--workload-ip', '198.18.1', 'fd00::1', '--outbound-port', 'abc', '--exclude-inbound-port', '70000',
    '--family', 'ipv5', '--tunnel-port', '15006', '--backend', 'iptables', '--log-level', 'loud',
  );
  t.equal(res.code, EXIT_USAGE);
  for (const expected of [
    '--workload-ip "198.18.1"', '--outbound-port "abc"', '--exclude-inbound-port "70000"', '--family "ipv5"',
    '--tunnel-port "15006": same port as --inbound-port', '--backend "iptables"', '--log-level "loud"',
  ]) t.match(res.stderr, expected);
  t.same(runner.calls, []);
  const ns = await run('apply', '--netns', 'mlt-ipt-does-not-exist-0');
  t.equal(ns.code, EXIT_USAGE);
  t.match(ns.stderr, '--netns "mlt-ipt-does-not-exist-0": no such network namespace');
  t.equal((await run('verify', '--netns', '../etc')).code, EXIT_USAGE);
});

t.test("commander's own parse errors exit 64 too; help exits 0", async (t) => {
  const { run } = harness();
  const unknown = await run('apply', '--bogus');
  t.equal(unknown.code, EXIT_USAGE);
  t.match(unknown.stderr, "unknown option '--bogus'");
  t.equal((await run('clean', '--workload-ip', '198.18.1.2')).code, EXIT_USAGE, 'clean takes no spec flags');
  t.equal((await run('apply', '--outbound-port')).code, EXIT_USAGE, 'missing value');
  const help = await run('verify', '--help');
  t.equal(help.code, 0);
  t.match(help.stdout, '--workload-ip <ip...>');
});

t.test('a failing restore exits 1 with the error code and stderr', async (t) => {
  const { run, v4 } = harness();
  v4.failNext = 'iptables-restore: Error occurred at line: 4';
  const res = await run('apply', '--workload-ip', '198.18.1.2');
  t.equal(res.code, 1);
  t.match(res.stderr, 'MESHLET_ERR_IPTABLES_RESTORE');
  t.match(res.stderr, 'Error occurred at line: 4');
});

t.test('captureSpecFromOptions: the seam from flags to a CaptureSpec', async (t) => {
  const spec = await captureSpecFromOptions({
    workloadIp: ['198.18.1.2'],
    outboundPort: '25001',
    excludePort: ['22'],
    excludeInboundPort: ['9090'],
  });
  t.same(spec, { workloadIps: ['198.18.1.2'], outboundPort: 25001, excludeInboundPorts: [22, 9090], excludeOutboundPorts: [22] });
  await t.rejects(captureSpecFromOptions({ outboundPort: '1e3' }), {
    code: 'MESHLET_ERR_CONFIG_INVALID',
    details: ['--outbound-port "1e3": not a TCP port (1-65535)'],
  });
});
