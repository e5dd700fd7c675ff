/**
 * The shared part of every node's snapshot, encoded once per state version (see
 * `src/mesh/snapshot-wire/`), and the per-node part from an index made once per version:
 * a node's snapshot on the wire is the shared bytes plus its name, address and local workload
 * uids, so no per-node snapshot is computed. Pushes always send the newest state, so the
 * newest encoding is all that is kept. The full view is encoded only when a full snapshot is
 * sent: a version every agent takes as a delta (`view-history.ts`) is never gzipped whole.
 */
import { encodeClusterView, type EncodedClusterView, type SnapshotWire } from '../../mesh/snapshot-wire/encode.js';
import type { PublishedState } from '../contracts.js';

/** A node's own part of its snapshot of a version. */
export type NodePartWire = Pick<SnapshotWire, 'node' | 'nodeAddress' | 'localWorkloadUids'>;

interface Indexed {
  readonly published: PublishedState;
  /** Node name -> uids of its workloads, in the state's workload order. */
  readonly localUids: ReadonlyMap<string, readonly string[]>;
  encoded: EncodedClusterView | undefined;
}

const NONE: readonly string[] = Object.freeze([]);

/** Encodes each published state's cluster view once, however many nodes it goes to. */
export class ClusterViewCache {
  private newest: Indexed | undefined;
  /** How many encodings were made (tests check that 50 nodes cost one). */
  encodings = 0;

  /** The encoded cluster view of `published`. */
  get(published: PublishedState): EncodedClusterView {
    const entry = this.entry(published);
    if (entry.encoded === undefined) {
      entry.encoded = encodeClusterView(published.state, published.version);
      this.encodings += 1;
    }
    return entry.encoded;
  }

  /** `node`'s own part of its snapshot of `published`: name, address, local workload uids. */
  nodePart(published: PublishedState, node: string): NodePartWire {
    return {
      node,
      nodeAddress: published.state.nodes.get(node)?.addresses[0] ?? '',
      localWorkloadUids: this.entry(published).localUids.get(node) ?? NONE,
    };
  }

  /**
   * `node`'s snapshot of `published` on the wire: equal to
   * `snapshotToWire(get(published), computeSnapshot(published.state, node, published.version))`.
   */
  wireFor(published: PublishedState, node: string): SnapshotWire {
    const encoded = this.get(published);
    return { version: encoded.version, clusterEncoding: encoded.encoding, cluster: encoded.bytes, ...this.nodePart(published, node) };
  }

  private entry(published: PublishedState): Indexed {
    if (this.newest?.published === published) return this.newest;
    const localUids = new Map<string, string[]>();
    for (const w of published.state.workloads) {
      const list = localUids.get(w.node);
      if (list === undefined) localUids.set(w.node, [w.uid]);
      else list.push(w.uid);
    }
    this.newest = { published, localUids, encoded: undefined };
    return this.newest;
  }
}
