/**
 * Progress on a terminal (`lab up`, `check`): the step under way rewritten in place on stderr,
 * finished steps left as ✔/✖ lines (or erased when transient), nothing at all when stderr is
 * not a terminal or `TERM=dumb`, no colour with `NO_COLOR` or `--no-color`; `check` on a
 * terminal shows its step and erases it, stdout untouched.
 */
import t from 'tap';
import { check } from '../../../src/cli/check-command.js';
import type { ClusterProbes } from '../../../src/cli/check-cluster.js';
import type { PreProbes } from '../../../src/cli/check-pre.js';
import type { OutputIo } from '../../../src/cli/output.js';
import { finishedLine, Progress, progressSink, runningLine, type ProgressSink } from '../../../src/cli/progress.js';

const CR = '\r\x1b[K';

function recorder(color = false): ProgressSink & { out: string[] } {
  const out: string[] = [];
  return { write: (s) => void out.push(s), color, out };
}

t.test('the lines: a spinner frame and seconds, then a mark and the time taken', async (t) => {
  t.equal(runningLine('building the network', 1234, 0), `${CR}⠋ building the network 1.2s`);
  t.equal(runningLine('x', 0, 11), `${CR}⠙ x 0.0s`, 'the frames cycle');
  t.equal(runningLine('starting the agent of node1', 1000, 0, 20), `${CR}⠋ starting th… 1.0s`, 'cut to the terminal, one column free');
  t.equal([...runningLine('starting the agent of node1', 1000, 0, 20).slice(CR.length)].length, 19);
  t.equal(runningLine('ok', 1000, 0, 20), `${CR}⠋ ok 1.0s`, 'a short line as it is');
  t.equal(finishedLine('building the network', 2500, true, false), `${CR}✔ building the network (2.5s)\n`);
  t.equal(finishedLine('starting', 100, false, false), `${CR}✖ starting (0.1s)\n`);
  t.equal(finishedLine('x', 0, true, true), `${CR}\x1b[32m✔\x1b[0m x (0.0s)\n`, 'green on a colour terminal');
});

t.test('each step finishes the one before; finish marks the last', async (t) => {
  let now = 1000;
  const sink = recorder();
  const p = new Progress(sink, { now: () => now, spin: false });
  p.step('a');
  now += 500;
  p.step('b');
  now += 1500;
  p.finish(false);
  p.finish(true);
  t.same(sink.out, [`${CR}⠋ a 0.0s`, `${CR}✔ a (0.5s)\n`, `${CR}⠋ b 0.0s`, `${CR}✖ b (1.5s)\n`], 'a second finish writes nothing');
});

t.test('transient progress erases its line', async (t) => {
  const sink = recorder();
  const p = new Progress(sink, { now: () => 0, spin: false, transient: true });
  p.step('asking');
  p.finish(true);
  t.same(sink.out, [`${CR}⠋ asking 0.0s`, CR]);
});

t.test('no sink: nothing is written and no timer is left', async (t) => {
  const p = new Progress(undefined);
  p.step('a');
  p.finish(true);
  t.equal((p as unknown as { timer: unknown }).timer, undefined);
});

const io = (terminal?: OutputIo['terminal']): OutputIo & { out: string; err: string } => {
  const o = { out: '', err: '', stdout: (s: string) => void (o.out += s), stderr: (s: string) => void (o.err += s), exit: () => undefined, ...(terminal === undefined ? {} : { terminal }) };
  return o;
};

t.test('the sink: a terminal only, not TERM=dumb; colours as the output rule', async (t) => {
  t.equal(progressSink(io()), undefined, 'a pipe');
  t.equal(progressSink(io({ isTTY: false, env: {} })), undefined, 'not a terminal');
  t.equal(progressSink(io({ isTTY: true, env: { TERM: 'dumb' } })), undefined, 'TERM=dumb');
  t.equal(progressSink(io({ isTTY: true, env: { TERM: 'xterm' } }))?.color, true);
  t.equal(progressSink(io({ isTTY: true, env: { NO_COLOR: '1' } }))?.color, false, 'NO_COLOR');
  t.equal(progressSink(io({ isTTY: true, env: {} }), false)?.color, false, '--no-color');
  t.equal(progressSink(io({ isTTY: true, columns: 60, env: {} }))?.columns, 60, "the terminal's width");
});

const cluster: ClusterProbes = { serverVersion: async () => 'v1.31.0', canCreate: async () => true, crdNames: async () => [] };

t.test('check on a terminal shows its step on stderr and erases it; stdout is the same', async (t) => {
  const tty = io({ isTTY: true, env: {} });
  const pipe = io();
  t.equal(await check(tty, { pre: true, kubernetes: true, output: 'json' }, {} as PreProbes, () => cluster), 0);
  t.equal(await check(pipe, { pre: true, kubernetes: true, output: 'json' }, {} as PreProbes, () => cluster), 0);
  t.equal(tty.err.startsWith(`${CR}⠋ checking the cluster: Kubernetes version, RBAC, CRDs 0.`), true, tty.err);
  t.equal(tty.err.endsWith(CR), true, 'erased once done');
  t.equal(pipe.err, '', 'nothing through a pipe');
  t.same(JSON.parse(tty.out), JSON.parse(pipe.out));
});
