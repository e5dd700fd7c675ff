/** Endpoints, a fake clock, seeded dice and a closed-loop load simulation for balancer tests. */
import type { Balancer, BalancerEnv, Lease } from '../../../../../src/agent/policy/balancers/tracked-balancer.js';
import { seededRandom } from '../../../../../src/agent/policy/balancers/seeded-random.js';
import type { EndpointInfo } from '../../../../../src/mesh/types.js';

/** Endpoint `n` at 198.18.2.n. */
export function ep(n: number): EndpointInfo {
  return { workload: `Pod/demo/e${n}`, address: `198.18.2.${n}`, node: 'node2', nodeAddress: '198.18.0.12', meshed: true, targetPorts: { 80: 8080 } };
}

export function eps(...ns: number[]): EndpointInfo[] {
  return ns.map(ep);
}

/** A clock that moves only when told, and seeded dice. */
export class FakeEnv implements BalancerEnv {
  t = 0;
  readonly random: () => number;
  readonly now = (): number => this.t;
  constructor(seed = 1) {
    this.random = seededRandom(seed);
  }
}

/** Address → picks, over `n` picks released at once. */
export function countPicks(b: Balancer, n: number, key?: (i: number) => string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const lease = b.pick(key === undefined ? undefined : { hashKey: key(i) });
    const a = lease?.endpoint.address ?? 'none';
    out[a] = (out[a] ?? 0) + 1;
    lease?.release();
  }
  return out;
}

/**
 * `clients` closed-loop clients send requests for `durationMs` of fake time: each picks, waits
 * its endpoint's latency (`latencyOf(address, now)`), releases with success, and goes again.
 * Returns picks per address: all, before `earlyUntilMs`, and from `fromMs` on.
 */
export function simulate(
  b: Balancer,
  env: FakeEnv,
  opts: { clients: number; durationMs: number; latencyOf: (address: string, nowMs: number) => number; fromMs?: number; earlyUntilMs?: number },
): { all: Record<string, number>; early: Record<string, number>; late: Record<string, number> } {
  const all: Record<string, number> = {};
  const early: Record<string, number> = {};
  const late: Record<string, number> = {};
  const inflight: Array<{ at: number; lease: Lease }> = [];
  const start = (): void => {
    const lease = b.pick();
    if (lease === undefined) throw new Error('no endpoint');
    const a = lease.endpoint.address;
    all[a] = (all[a] ?? 0) + 1;
    if (env.t >= (opts.fromMs ?? Infinity)) late[a] = (late[a] ?? 0) + 1;
    if (env.t < (opts.earlyUntilMs ?? 0)) early[a] = (early[a] ?? 0) + 1;
    inflight.push({ at: env.t + opts.latencyOf(a, env.t), lease });
  };
  for (let c = 0; c < opts.clients; c++) start();
  // Bounded: every step moves the clock forward to the next completion.
  for (let steps = 0; steps < 10_000_000; steps++) {
    let next = 0;
    for (let i = 1; i < inflight.length; i++) if ((inflight[i]?.at ?? 0) < (inflight[next]?.at ?? 0)) next = i;
    const done = inflight.splice(next, 1)[0];
    if (done === undefined || done.at > opts.durationMs) break;
    env.t = done.at;
    done.lease.release({ outcome: 'success' });
    start();
  }
  return { all, early, late };
}

/** The share of `address` in `counts`. */
export function share(counts: Record<string, number>, address: string): number {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return total === 0 ? 0 : (counts[address] ?? 0) / total;
}
