/**
 * The shared part of every node's snapshot, encoded once per state version (see
 * `src/mesh/snapshot-wire.ts`). Pushes always send the newest state, so the newest encoding is
 * all that is kept.
 */
import { encodeClusterView, type EncodedClusterView } from '../../mesh/snapshot-wire.js';
import type { PublishedState } from '../contracts.js';

/** Encodes each published state's cluster view once, however many nodes it goes to. */
export class ClusterViewCache {
  private newest: { readonly published: PublishedState; readonly encoded: EncodedClusterView } | undefined;
  /** How many encodings were made (tests check that 50 nodes cost one). */
  encodings = 0;

  /** The encoded cluster view of `published`. */
  get(published: PublishedState): EncodedClusterView {
    if (this.newest?.published === published) return this.newest.encoded;
    const encoded = encodeClusterView(published.state, published.version);
    this.encodings += 1;
    this.newest = { published, encoded };
    return encoded;
  }
}
