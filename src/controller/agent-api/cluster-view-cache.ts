/**
 * The shared part of every node's snapshot, encoded once per state version (see
 * `src/mesh/snapshot-wire.ts`), and the per-node part from an index made once per version:
 * a node's snapshot on the wire is the shared bytes plus its name, address and local workload
 * uids, so no per-node snapshot is computed. Pushes always send the newest state, so the
 * newest encoding is all that is kept.
 */
import { encodeClusterView, type EncodedClusterView, type SnapshotWire } from '../../mesh/snapshot-wire/encode.js';
import type { PublishedState } from '../contracts.js';

interface Encoded {
  readonly published: PublishedState;
  readonly encoded: EncodedClusterView;
  /** Node name -> uids of its workloads, in the state's workload order. */
  readonly localUids: ReadonlyMap<string, readonly string[]>;
}

const NONE: readonly string[] = Object.freeze([]);

/** Encodes each published state's cluster view once, however many nodes it goes to. */
export class ClusterViewCache {
  private newest: Encoded | undefined;
  /** How many encodings were made (tests check that 50 nodes cost one). */
  encodings = 0;

  /** The encoded cluster view of `published`. */
  get(published: PublishedState): EncodedClusterView {
    return this.entry(published).encoded;
  }

  /**
   * `node`'s snapshot of `published` on the wire: equal to
   * `snapshotToWire(get(published), computeSnapshot(published.state, node, published.version))`.
   */
  wireFor(published: PublishedState, node: string): SnapshotWire {
    const { encoded, localUids } = this.entry(published);
    return {
      version: encoded.version,
      clusterEncoding: encoded.encoding,
      cluster: encoded.bytes,
      node,
      nodeAddress: published.state.nodes.get(node)?.addresses[0] ?? '',
      localWorkloadUids: localUids.get(node) ?? NONE,
    };
  }

  private entry(published: PublishedState): Encoded {
    if (this.newest?.published === published) return this.newest;
    const encoded = encodeClusterView(published.state, published.version);
    this.encodings += 1;
    const localUids = new Map<string, string[]>();
    for (const w of published.state.workloads) {
      const list = localUids.get(w.node);
      if (list === undefined) localUids.set(w.node, [w.uid]);
      else list.push(w.uid);
    }
    this.newest = { published, encoded, localUids };
    return this.newest;
  }
}
