/**
 * A per-turn byte budget per workload (issue 18, docs/performance.md "Fairness between
 * workloads"). A data-path process handles, in one event-loop turn, every chunk its ready
 * sockets hold: a flooding workload's stream can move megabytes in one poll phase (libuv reads
 * up to 32 × 64 KiB per socket per readable event, and every chunk is written on into the
 * destination at once), and a quiet workload's request, ready on another socket, waits for all
 * of it. The budget bounds that: once a workload has moved {@link TURN_BUDGET_BYTES} in this
 * turn while another workload is active, each of its spliced sources pauses after its current
 * chunk, and they all resume from `setImmediate`: after the poll phase has served every other
 * ready socket. The paused workload's bytes wait in its stream's buffer (then in the kernel
 * and, through the HTTP/2 windows, at the sender), not lost, and it moves at least one budget
 * every turn: it is never starved, only interleaved.
 *
 * A workload here is a tunnel session: sessions are per source workload (`TunnelPool`'s key),
 * so on the destination node the flood and the quiet request are told apart even when they
 * reach the same pod. A workload alone (no other one moved a byte within
 * {@link ACTIVE_WINDOW_MS}) is never paused, so a single flow pays a field update per chunk
 * and one `setImmediate` per turn, nothing more.
 *
 * The decisions are {@link TurnBudget.charge} and {@link TurnBudget.endTurn}, driven by a
 * clock and a deferral that tests replace; `splice.ts` does the pausing and resuming.
 *
 * @module
 */
import type { Readable, Writable } from 'node:stream';

/**
 * Bytes a workload may move per turn while another is active: one 64 KiB HTTP/2 frame (the
 * tunnels' `maxFrameSize`) or one socket read, so a quiet workload's message waits for about
 * one frame of another's work per turn. Measured in-process (8 streams flooding beside
 * 512-byte round trips through one loop, docs/performance.md): the round trip's p50 was
 * 22-47 ms without a budget, 14-24 ms at 128 KiB, 5-12 ms at 64 KiB, 2 ms at 32 KiB, with the
 * flood's throughput within the noise down to 64 KiB and lower at 32 KiB in one run of two.
 */
export const TURN_BUDGET_BYTES = 64 * 1024;

/**
 * A workload is active while it moved a byte within this long. The quiet workload of the
 * bench sends one small request per round trip, milliseconds apart under a flood, so the
 * window must span many turns; a second means the budget stops applying a second after the
 * neighbour went quiet.
 */
export const ACTIVE_WINDOW_MS = 1000;

/** A workload's state in the budget (one per tunnel session; made by {@link TurnBudget.workload}). */
export class WorkloadTurn {
  /** Bytes moved in turn {@link turn}. */
  bytes = 0;
  /** The turn {@link bytes} belongs to. */
  turn = -1;
  /** When this workload last moved a byte (the start of that turn). */
  lastActiveAt = Number.NEGATIVE_INFINITY;
}

/** The clock and the deferral of a {@link TurnBudget}: `performance.now` and `setImmediate` outside tests. */
export interface TurnScheduler {
  now(): number;
  defer(fn: () => void): void;
}

const realScheduler: TurnScheduler = {
  now: () => performance.now(),
  defer: (fn) => {
    setImmediate(fn);
  },
};

/** Decides which workloads pause in a turn, and resumes them when the turn ends. */
export class TurnBudget {
  private readonly budgetBytes: number;
  private readonly activeMs: number;
  private readonly scheduler: TurnScheduler;
  private readonly byKey = new WeakMap<object, WorkloadTurn>();
  /** Workloads that moved a byte within the active window (swept at each turn's start). */
  private readonly active = new Set<WorkloadTurn>();
  private turnSeq = 0;
  private inTurn = false;
  private turnAt = 0;
  /** Sources paused in this turn, with where they pipe to (parallel arrays, reused). */
  private heldSrc: Readable[] = [];
  private heldDst: Writable[] = [];
  /** Pauses so far (a source paused for the rest of a turn; metrics read it). */
  pauses = 0;

  constructor(budgetBytes: number = TURN_BUDGET_BYTES, activeMs: number = ACTIVE_WINDOW_MS, scheduler: TurnScheduler = realScheduler) {
    if (!Number.isInteger(budgetBytes) || budgetBytes < 1) throw new RangeError(`turn budget must be a positive integer of bytes, got ${String(budgetBytes)}`);
    if (!Number.isFinite(activeMs) || activeMs <= 0) throw new RangeError(`active window must be a positive number of ms, got ${String(activeMs)}`);
    this.budgetBytes = budgetBytes;
    this.activeMs = activeMs;
    this.scheduler = scheduler;
    this.endTurn = this.endTurn.bind(this);
  }

  /** The state of the workload `key` stands for (one per key, forgotten with the key). */
  workload(key: object): WorkloadTurn {
    let w = this.byKey.get(key);
    if (w === undefined) {
      w = new WorkloadTurn();
      this.byKey.set(key, w);
    }
    return w;
  }

  /** Workloads active now (moved a byte within the active window as of this turn). */
  activeCount(): number {
    return this.active.size;
  }

  /**
   * Counts `bytes` moved by `w` in this turn (starting a turn if none is under way). True when
   * `w` has now used its budget while another workload is active: its source should pause
   * until the turn ends ({@link hold}).
   */
  charge(w: WorkloadTurn, bytes: number): boolean {
    if (!this.inTurn) this.startTurn();
    if (w.turn !== this.turnSeq) {
      w.turn = this.turnSeq;
      w.bytes = 0;
      w.lastActiveAt = this.turnAt;
      this.active.add(w);
    }
    w.bytes += bytes;
    return w.bytes >= this.budgetBytes && this.active.size >= 2;
  }

  /** Keeps `src` (paused, piping into `dst`) until the turn ends, then resumes it. */
  hold(src: Readable, dst: Writable): void {
    this.pauses += 1;
    this.heldSrc.push(src);
    this.heldDst.push(dst);
  }

  /**
   * Ends the turn: every held source that is still alive resumes, unless its destination is
   * waiting for 'drain' (then `pipe` resumes it on that event, as it would have anyway).
   * Runs from the deferral; tests call it through their scheduler.
   */
  endTurn(): void {
    this.inTurn = false;
    const src = this.heldSrc;
    const dst = this.heldDst;
    if (src.length === 0) return;
    // New arrays: a resumed source may be paused again at once (in a new turn) and held there.
    this.heldSrc = [];
    this.heldDst = [];
    for (let i = 0; i < src.length; i += 1) {
      const s = src[i] as Readable;
      const d = dst[i] as Writable;
      if (!s.destroyed && !d.destroyed && !d.writableNeedDrain) s.resume();
    }
  }

  private startTurn(): void {
    this.inTurn = true;
    this.turnSeq += 1;
    this.turnAt = this.scheduler.now();
    const since = this.turnAt - this.activeMs;
    for (const w of this.active) if (w.lastActiveAt < since) this.active.delete(w);
    this.scheduler.defer(this.endTurn);
  }
}

/** The budget of this process's data path (one event loop per process). */
export const processTurnBudget = new TurnBudget();
