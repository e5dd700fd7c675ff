/**
 * Linkerd's retry budget (tower's `TpsBudget`): every original request deposits `ratio` of a
 * retry, every retry (or hedge) withdraws one, and deposits expire after `ttlMs`; on top, a
 * reserve of `minPerSecond` retries per second of the window is always there, so that a service
 * with little traffic can still retry. When every endpoint fails, retries therefore add at most
 * `ratio` of the requests plus the reserve: retries cannot multiply an outage. A try that reached
 * no endpoint (a refused connect or stream) did no work anywhere, and sending it elsewhere does
 * not draw from the budget (`outbound-exchange.ts`). Pure: the clock is passed in. One per
 * Service port and agent process.
 */
import type { RetryBudget } from '../../../mesh/resilience.js';

/** Slots the window is cut into: deposits and withdrawals expire a slot at a time. */
const SLOTS = 10;

export class RetryBudgetState {
  readonly budget: RetryBudget;
  private readonly slotMs: number;
  private readonly deposits = new Float64Array(SLOTS);
  private readonly withdrawals = new Float64Array(SLOTS);
  /** The slot number (now / slotMs) of the newest slot. */
  private current = -1;
  private depositSum = 0;
  private withdrawSum = 0;

  constructor(budget: RetryBudget) {
    this.budget = budget;
    this.slotMs = Math.max(1, budget.ttlMs / SLOTS);
  }

  /** An original request (not a retry) was sent. */
  deposit(nowMs: number): void {
    const i = this.advance(nowMs);
    this.deposits[i] = (this.deposits[i] as number) + 1;
    this.depositSum += 1;
  }

  /** Takes one retry from the budget: false (and nothing taken) when there is none left. */
  withdraw(nowMs: number): boolean {
    const i = this.advance(nowMs);
    if (this.available() < 1) return false;
    this.withdrawals[i] = (this.withdrawals[i] as number) + 1;
    this.withdrawSum += 1;
    return true;
  }

  /** Retries the budget would allow now (may be fractional; negative never). */
  balance(nowMs: number): number {
    this.advance(nowMs);
    return Math.max(0, this.available());
  }

  private available(): number {
    const reserve = this.budget.minPerSecond * (this.budget.ttlMs / 1000);
    return this.depositSum * this.budget.ratio + reserve - this.withdrawSum;
  }

  /** Expires the slots older than the window; the index of `nowMs`'s slot. */
  private advance(nowMs: number): number {
    const slot = Math.floor(nowMs / this.slotMs);
    if (this.current < 0) this.current = slot;
    if (slot > this.current) {
      const steps = Math.min(SLOTS, slot - this.current);
      for (let k = 1; k <= steps; k++) {
        const i = (this.current + k) % SLOTS;
        this.depositSum -= this.deposits[i] as number;
        this.withdrawSum -= this.withdrawals[i] as number;
        this.deposits[i] = 0;
        this.withdrawals[i] = 0;
      }
      this.current = slot;
    }
    return ((this.current % SLOTS) + SLOTS) % SLOTS;
  }
}
