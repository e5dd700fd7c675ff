/**
 * A scripted CommandRunner for unit tests: answers from a table keyed by the command line,
 * records every call (with its stdin), and answers 127 (not found) for anything unscripted.
 */
import type { CommandResult, CommandRunner, RunOptions } from '../../../src/iptables/runner.js';

/** A scripted answer: a fixed result, or a function of the call's stdin. */
export type FakeAnswer = Partial<CommandResult> | ((stdin: string | undefined) => Partial<CommandResult>);

/** One recorded call. */
export interface FakeCall {
  readonly line: string;
  readonly stdin?: string;
}

/** A fake runner and what it was asked. */
export interface FakeRunner extends CommandRunner {
  readonly calls: FakeCall[];
  /** Sets (or replaces) the answer to a command line such as `iptables-nft-save -t nat`. */
  answer(line: string, result: FakeAnswer): void;
}

/** Creates a fake runner with the given answers. */
export function createFakeRunner(answers: Record<string, FakeAnswer> = {}): FakeRunner {
  const table = new Map<string, FakeAnswer>(Object.entries(answers));
  const calls: FakeCall[] = [];
  return {
    calls,
    answer(line, result) {
      table.set(line, result);
    },
    async run(command: string, args: readonly string[], options: RunOptions = {}) {
      const line = [command, ...args].join(' ');
      calls.push(options.stdin === undefined ? { line } : { line, stdin: options.stdin });
      const scripted = table.get(line);
      if (scripted === undefined) return { code: 127, stdout: '', stderr: `${command}: command not found` };
      const result = typeof scripted === 'function' ? scripted(options.stdin) : scripted;
      return { code: result.code ?? 0, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
    },
  };
}
