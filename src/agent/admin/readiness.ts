/**
 * Readiness as a set of named blockers, released one by one (ztunnel's `readiness.rs`):
 * `/healthz/ready` lists what still blocks, and the agent logs `agent ready` once when the
 * last one goes.
 */

/** What can keep an agent from being ready. */
export type ReadinessBlocker = 'snapshot' | 'certificates' | 'capture-rules' | 'listeners';

/** Tracks outstanding blockers. */
export class Readiness {
  private readonly blockers: Set<ReadinessBlocker>;
  private readonly waiters: Array<() => void> = [];

  constructor(initial: Iterable<ReadinessBlocker>) {
    this.blockers = new Set(initial);
  }

  /** True when nothing blocks. */
  get ready(): boolean {
    return this.blockers.size === 0;
  }

  /** What still blocks, sorted. */
  pending(): ReadinessBlocker[] {
    return [...this.blockers].sort();
  }

  /** Releases a blocker; the last release resolves {@link whenReady}. */
  release(blocker: ReadinessBlocker): void {
    if (!this.blockers.delete(blocker) || this.blockers.size > 0) return;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Adds a blocker back (the listeners: every data-path worker died). */
  block(blocker: ReadinessBlocker): void {
    this.blockers.add(blocker);
  }

  /** Resolves once ready. */
  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
