/**
 * Maglev (Eisenbud et al., NSDI 2016; Envoy's MAGLEV): a lookup table of prime size M where every
 * endpoint fills slots in the order of its own permutation (offset and skip from two hashes of
 * its key), taking turns in proportion to weight, until the table is full. A key's slot is its
 * hash mod M: O(1) lookups, even shares, and little more than 1/N of keys move when one of N
 * endpoints leaves.
 */
import { DEFAULT_MAGLEV_TABLE_SIZE } from '../../../mesh/load-balancer.js';
import type { EndpointInfo } from '../../../mesh/types.js';
import type { EndpointState } from './endpoint-table.js';
import { HashBalancer } from './hash-balancer.js';
import { murmur3 } from './murmur3.js';
import type { BalancerOptions } from './tracked-balancer.js';

export { DEFAULT_MAGLEV_TABLE_SIZE };
/** Seeds of the two independent hashes of an endpoint's key. */
const OFFSET_SEED = 0x9e3779b9;
const SKIP_SEED = 0x7f4a7c15;

export interface MaglevOptions extends BalancerOptions {
  /** A prime. */
  readonly tableSize?: number | undefined;
}

export class MaglevBalancer extends HashBalancer {
  readonly algorithm = 'maglev' as const;
  private readonly size: number;
  private table32 = new Int32Array(0);
  private owners: readonly EndpointState[] = [];

  constructor(endpoints: readonly EndpointInfo[], opts: MaglevOptions) {
    super(opts);
    this.size = opts.tableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
    this.update(endpoints);
  }

  protected build(states: readonly EndpointState[]): void {
    const m = this.size;
    this.owners = states;
    const table = new Int32Array(states.length === 0 ? 0 : m).fill(-1);
    this.table32 = table;
    if (states.length === 0) return;
    const offset = states.map((s) => murmur3(s.key, OFFSET_SEED) % m);
    const skip = states.map((s) => (murmur3(s.key, SKIP_SEED) % (m - 1)) + 1);
    const next = new Array<number>(states.length).fill(0);
    const maxWeight = states.reduce((max, s) => Math.max(max, s.weight), 0);
    // Envoy's turns: an endpoint of the largest weight fills a slot every round, one of a third
    // of it every third round.
    const target = new Array<number>(states.length).fill(0);
    let filled = 0;
    for (let round = 1; filled < m; round++) {
      for (let i = 0; i < states.length && filled < m; i++) {
        if (round * (states[i] as EndpointState).weight < (target[i] as number)) continue;
        target[i] = (target[i] as number) + maxWeight;
        const off = offset[i] as number;
        const sk = skip[i] as number;
        let c = (off + sk * (next[i] as number)) % m;
        while ((table[c] as number) >= 0) {
          next[i] = (next[i] as number) + 1;
          c = (off + sk * (next[i] as number)) % m;
        }
        table[c] = i;
        next[i] = (next[i] as number) + 1;
        filled++;
      }
    }
  }

  protected lookup(hash: number, epoch: number | undefined): EndpointState | undefined {
    const m = this.table32.length;
    if (m === 0) return undefined;
    const at = hash % m;
    for (let i = 0; i < m; i++) {
      const s = this.owners[this.table32[(at + i) % m] as number] as EndpointState;
      if (epoch === undefined || s.mark === epoch) return s;
    }
    return undefined;
  }
}
