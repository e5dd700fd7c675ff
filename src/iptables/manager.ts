/**
 * Applies, verifies and removes meshlet's capture rules in the netns a {@link CommandRunner}
 * reaches, with `iptables-save` / `iptables-restore --noflush` of the chosen backend.
 */
import type { Logger } from 'pino';
import { MeshletError } from '../mesh/errors.js';
import { detectBackend, type IptablesBackend } from './backend.js';
import type { CaptureSpec } from './capture-spec.js';
import { diffFamily, type FamilyDrift } from './drift.js';
import type { IpFamily } from '../mesh/workload-address.js';
import { cleanRestore, jumpEdits, rollbackRestore } from './restore-plan.js';
import { buildRuleSet, renderRestore, type FamilyRuleSet, type JumpEdits } from './rule-builder.js';
import { createCommandRunner, type CommandRunner } from './runner.js';
import { parseSave, type SavedTable } from './save-parser.js';
import { buildReturnPath, cleanReturnRestore, countRule, diffReturnPath, hasLocalRoute, renderReturnRestore, type ReturnPathRules, type ReturnPathSpec } from './return-path.js';

/** Both families, IPv4 first (the order apply runs them in). */
export const ALL_FAMILIES: readonly IpFamily[] = ['ipv4', 'ipv6'];

/**
 * Seconds `iptables-restore` waits for the xtables lock (legacy only; nft ignores it) before
 * failing, so a kube-proxy sync in progress delays an apply instead of failing it.
 */
const LOCK_WAIT_SECONDS = '5';

/** Options of {@link IptablesManager}. */
export interface IptablesManagerOptions {
  readonly logger: Logger;
  readonly runner: CommandRunner;
  /** The backend to use; detected with {@link detectBackend} on first use when absent. */
  readonly backend?: IptablesBackend;
  /** The families to manage. Default both; a host without IPv6 nat can limit it to `['ipv4']`. */
  readonly families?: readonly IpFamily[];
  /**
   * Also manage the return path of source address preservation (mangle mark, `ip rule`, local
   * route: `return-path.ts`) with the capture rules: applied, verified and cleaned with them.
   */
  readonly returnPath?: ReturnPathSpec;
}

/** Options of {@link IptablesManager.create}: the runner is optional there. */
export interface CreateManagerOptions extends Omit<IptablesManagerOptions, 'runner'> {
  /** Default: {@link createCommandRunner} (inside `netns` when given). */
  readonly runner?: CommandRunner;
  /** Run the iptables commands inside this named netns (ignored when `runner` is given). */
  readonly netns?: string;
}

/** What `apply` did in one family (logged). */
interface FamilyApplyResult {
  /** Workload addresses of this family now captured. */
  readonly workloads: number;
  /** Whether the PREROUTING jump was (re)inserted; false when it was already right. */
  readonly jumpInserted: boolean;
  /** Stray references to meshlet chains removed (duplicate, misplaced or hand-made jumps). */
  readonly removedReferences: number;
}

/** Drift per managed family; `inSync` is true when every managed family is. */
export interface VerifyReport {
  readonly inSync: boolean;
  readonly ipv4?: FamilyDrift;
  readonly ipv6?: FamilyDrift;
  /** The return path's drift per family, when the manager manages it. */
  readonly returnPath?: { readonly ipv4?: FamilyDrift; readonly ipv6?: FamilyDrift };
}

/** A family whose rules `apply` changed, with what it needs to be put back. */
interface Applied {
  readonly family: IpFamily;
  readonly previous: SavedTable;
  readonly edits: JumpEdits;
}

/** Owner of meshlet's nat rules in one netns. Calls are serialised: one runs at a time. */
export class IptablesManager {
  readonly #log: Logger;
  readonly #runner: CommandRunner;
  readonly #families: readonly IpFamily[];
  readonly #returnPath: ReturnPathSpec | undefined;
  #backend: Promise<IptablesBackend> | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: IptablesManagerOptions) {
    this.#log = options.logger.child({ component: 'iptables' });
    this.#runner = options.runner;
    this.#families = ALL_FAMILIES.filter((f) => (options.families ?? ALL_FAMILIES).includes(f));
    this.#returnPath = options.returnPath;
    // Checked now: a bad spec is a programming error and must not surface at the first apply.
    if (this.#returnPath !== undefined) for (const f of this.#families) buildReturnPath(this.#returnPath, f);
    this.#backend = options.backend === undefined ? undefined : Promise.resolve(options.backend);
  }

  /**
   * A manager for the netns this process runs in (or `netns`), with the default runner and the
   * backend detected now, so a host without a usable iptables fails at start, not at the first
   * snapshot. Throws MESHLET_ERR_IPTABLES_BACKEND.
   */
  static async create(options: CreateManagerOptions): Promise<IptablesManager> {
    const runner = options.runner ?? createCommandRunner(options.netns === undefined ? {} : { netns: options.netns });
    const manager = new IptablesManager({ ...options, runner });
    await manager.backend();
    return manager;
  }

  /** The backend in use, detecting it on first call (a failed detection is retried next call). */
  backend(): Promise<IptablesBackend> {
    if (this.#backend === undefined) {
      const detecting = detectBackend(this.#runner);
      this.#backend = detecting;
      detecting.then(
        (b) => this.#log.info({ backend: b.kind, restore: b.ipv4.restore }, 'iptables backend detected'),
        () => {
          this.#backend = undefined;
        },
      );
    }
    return this.#backend;
  }

  /**
   * Makes meshlet's chains hold exactly the rules `spec` wants and PREROUTING exactly one jump,
   * first. Each family is one `restore --noflush`, all-or-nothing in the kernel; when a later
   * family fails, the earlier ones are rolled back, so the previous rules stay in effect.
   * Throws MESHLET_ERR_CONFIG_INVALID (nothing run) or MESHLET_ERR_IPTABLES_RESTORE.
   */
  async apply(spec: CaptureSpec): Promise<void> {
    const rules = buildRuleSet(spec);
    return this.#serial(async () => {
      const backend = await this.backend();
      // The return path first: it does not depend on the workloads, and a failure here leaves
      // the capture rules as they were.
      for (const family of this.#families) await this.#applyReturnPath(family);
      const applied: Applied[] = [];
      const result: { -readonly [F in IpFamily]?: FamilyApplyResult } = {};
      for (const family of this.#families) {
        let step: Applied;
        try {
          step = await this.#applyFamily(family, rules[family]);
        } catch (err) {
          throw await this.#rollBack(applied, err);
        }
        applied.push(step);
        const { edits } = step;
        result[family] = { workloads: rules[family].addresses.length, jumpInserted: edits.insertJump, removedReferences: edits.deletes.length };
      }
      this.#log.info({ backend: backend.kind, ...result }, 'capture rules applied');
    });
  }

  /** Compares the kernel's meshlet chains and jump with what `spec` wants, per family. */
  async verify(spec: CaptureSpec): Promise<VerifyReport> {
    const rules = buildRuleSet(spec);
    return this.#serial(async () => {
      const report: { -readonly [F in IpFamily]?: FamilyDrift } = {};
      for (const family of this.#families) report[family] = diffFamily(rules[family], await this.#save(family));
      const returnPath: { -readonly [F in IpFamily]?: FamilyDrift } = {};
      for (const family of this.#returnPath === undefined ? [] : this.#families) returnPath[family] = await this.#verifyReturnPath(family);
      const inSync = this.#families.every((f) => report[f]?.inSync === true && returnPath[f]?.inSync !== false);
      const full = { ...report, ...(this.#returnPath === undefined ? {} : { returnPath }) };
      if (!inSync) this.#log.warn({ code: 'MESHLET_ERR_IPTABLES_DRIFT', ...full }, 'capture rules drifted');
      return { inSync, ...full };
    });
  }

  /**
   * Removes every reference to meshlet's chains (duplicates too), then the chains, in every
   * managed family. Idempotent: a family with nothing of meshlet's runs no restore at all.
   */
  clean(): Promise<void> {
    return this.#serial(async () => {
      for (const family of this.#families) {
        const text = cleanRestore(await this.#save(family));
        if (text !== undefined) await this.#restore(family, text, 'clean');
        if (this.#returnPath !== undefined) await this.#cleanReturnPath(family);
      }
      this.#log.info({ families: this.#families }, 'capture rules removed');
    });
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Save, plan the jump edits, restore: one family's part of `apply`. */
  async #applyFamily(family: IpFamily, rules: FamilyRuleSet): Promise<Applied> {
    const previous = await this.#save(family);
    const edits = jumpEdits(previous);
    await this.#restore(family, renderRestore(rules, edits), 'rules');
    return { family, previous, edits };
  }

  async #save(family: IpFamily, table: 'nat' | 'mangle' = 'nat'): Promise<SavedTable> {
    const command = (await this.backend())[family].save;
    const { code, stdout, stderr } = await this.#runner.run(command, ['-t', table]);
    if (code !== 0) {
      throw new MeshletError('MESHLET_ERR_HOST_TOOL', `${command} -t ${table} failed (exit ${code}): ${stderr.trim() || 'no output'}`);
    }
    return parseSave(stdout, table);
  }

  #returnRules(family: IpFamily): ReturnPathRules {
    return buildReturnPath(this.#returnPath as ReturnPathSpec, family);
  }

  /** The mangle chain and jump, then the `ip rule` (added when missing) and the local route. */
  async #applyReturnPath(family: IpFamily): Promise<void> {
    if (this.#returnPath === undefined) return;
    const rules = this.#returnRules(family);
    await this.#restore(family, renderReturnRestore(rules, await this.#save(family, 'mangle')), 'return path');
    if (countRule(rules, await this.#ip(rules.ruleList)) === 0) await this.#ip(rules.ruleAdd);
    await this.#ip(rules.routeReplace);
  }

  async #verifyReturnPath(family: IpFamily): Promise<FamilyDrift> {
    const rules = this.#returnRules(family);
    return diffReturnPath(rules, await this.#save(family, 'mangle'), await this.#ip(rules.ruleList), await this.#routes(rules));
  }

  /** Removes the mangle chain, every copy of the rule and the route (each only when present). */
  async #cleanReturnPath(family: IpFamily): Promise<void> {
    const rules = this.#returnRules(family);
    const text = cleanReturnRestore(await this.#save(family, 'mangle'));
    if (text !== undefined) await this.#restore(family, text, 'return path clean');
    for (let copies = countRule(rules, await this.#ip(rules.ruleList)); copies > 0; copies--) await this.#ip(rules.ruleDelete);
    if (hasLocalRoute(await this.#routes(rules))) await this.#ip(rules.routeDelete);
  }

  /** meshlet's routing table; empty when the kernel has no such table yet ("FIB table does not exist"). */
  async #routes(rules: ReturnPathRules): Promise<string> {
    const { code, stdout, stderr } = await this.#runner.run('ip', rules.routeList);
    if (code !== 0 && /does not exist/.test(stderr)) return '';
    if (code !== 0) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `ip ${rules.routeList.join(' ')} failed (exit ${code}): ${stderr.trim() || 'no output'}`);
    return stdout;
  }

  /** Runs `ip args`; its stdout, or MESHLET_ERR_HOST_TOOL naming the command and its stderr. */
  async #ip(args: readonly string[]): Promise<string> {
    const { code, stdout, stderr } = await this.#runner.run('ip', args);
    if (code !== 0) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `ip ${args.join(' ')} failed (exit ${code}): ${stderr.trim() || 'no output'}`);
    return stdout;
  }

  async #restore(family: IpFamily, input: string, what: string): Promise<void> {
    const command = (await this.backend())[family].restore;
    if (this.#log.isLevelEnabled('debug')) this.#log.debug({ family, command, input }, `restoring ${what}`);
    const { code, stderr } = await this.#runner.run(command, ['-w', LOCK_WAIT_SECONDS, '--noflush'], { stdin: input });
    if (code !== 0) {
      const message = `${command} --noflush rejected the ${family} ${what} (exit ${code}); nothing of it was applied: ${stderr.trim() || 'no output'}`;
      throw new MeshletError('MESHLET_ERR_IPTABLES_RESTORE', message, { details: stderr.trim().split('\n') });
    }
  }

  /** Undoes `applied` (latest first) after `failure`; returns the error `apply` throws. */
  async #rollBack(applied: readonly Applied[], failure: unknown): Promise<unknown> {
    const problems: string[] = [];
    for (const { family, previous, edits } of [...applied].reverse()) {
      try {
        await this.#restore(family, rollbackRestore(previous, edits), 'rollback');
        this.#log.warn({ family }, 'capture rules rolled back after a later family failed');
      } catch (err) {
        problems.push(`rolling back ${family} failed too: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (problems.length === 0 || !(failure instanceof MeshletError)) return failure;
    return new MeshletError(failure.code, `${failure.message}; ${problems.join('; ')}`, { cause: failure, details: failure.details });
  }
}
