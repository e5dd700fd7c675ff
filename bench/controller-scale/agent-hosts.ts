/**
 * The bench's side of its agent hosts: forks them, hands each its agents, collects every
 * applied snapshot per version, and stops them (killed on any exit of the bench).
 *
 * @module
 */

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromHost, HostedAgent, ToHost } from './host-messages.js';

/** What the agents reported for one version. */
export interface VersionAcks {
  /** ACK times (ms since the epoch), one per agent that applied it. */
  readonly at: number[];
  readonly clusterBytes: number[];
  publishedAt: number;
  deltas: number;
}

const HOST_SCRIPT = fileURLToPath(new URL('./agent-host.js', import.meta.url));

/** Agent hosts in child processes. */
export class AgentHosts {
  /** version -> what the agents reported, in the order versions were first seen. */
  readonly acks = new Map<string, VersionAcks>();
  private readonly children: ChildProcess[] = [];
  private usageReplies: ((m: Extract<FromHost, { kind: 'usage' }>) => void)[] = [];

  constructor() {
    process.on('exit', () => this.kill());
  }

  /** Forks one host per group and starts its agents; resolves once every host is listening. */
  async start(groups: readonly (readonly HostedAgent[])[], setup: { port: number; caPem: string; deltas: boolean; limitMs: number }): Promise<void> {
    await Promise.all(groups.map((agents) => new Promise<void>((resolve, reject) => {
      const child = fork(HOST_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      this.children.push(child);
      child.once('exit', (code) => reject(new Error(`an agent host exited (${code}) before it was ready`)));
      child.on('message', (m: FromHost) => {
        if (m.kind === 'ready') resolve();
        else this.onMessage(m);
      });
      child.send({ kind: 'start', agents, ...setup } satisfies ToHost);
    })));
  }

  private onMessage(m: FromHost): void {
    if (m.kind === 'ack') {
      let v = this.acks.get(m.version);
      if (v === undefined) this.acks.set(m.version, (v = { at: [], clusterBytes: [], publishedAt: m.publishedAt, deltas: 0 }));
      v.at.push(m.at);
      v.clusterBytes.push(m.clusterBytes);
      if (m.delta) v.deltas++;
    } else if (m.kind === 'usage') {
      this.usageReplies.shift()?.(m);
    }
  }

  /** CPU (ms, summed over hosts) and RSS (MB, summed) of the hosts now. */
  async usage(): Promise<{ cpuMs: number; rssMb: number }> {
    const replies = await Promise.all(this.children.map((c) => new Promise<Extract<FromHost, { kind: 'usage' }>>((resolve) => {
      this.usageReplies.push(resolve);
      c.send({ kind: 'usage' } satisfies ToHost);
    })));
    return { cpuMs: replies.reduce((a, r) => a + r.cpuMs, 0), rssMb: replies.reduce((a, r) => a + r.rssMb, 0) };
  }

  /** Resolves true once `pred` holds (polled every 20 ms), false if it still does not after `ms`. */
  async until(pred: () => boolean, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (pred()) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return pred();
  }

  /** Asks every host to close its agents (bounded by `ms`), then kills what is left. */
  async close(ms: number): Promise<void> {
    const exits = this.children.map((c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => c.once('exit', () => resolve()))));
    for (const c of this.children) if (c.connected) c.send({ kind: 'close' } satisfies ToHost);
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, ms))]);
    this.kill();
  }

  private kill(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}
