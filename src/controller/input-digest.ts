/**
 * A digest of one object a cluster state is built from: equal digests mean equal objects (keys
 * sorted, maps as sorted entries, where the object came from left out). The state store's
 * incremental build (`mesh/cluster-state-updater.ts`) compares objects by identity and uses
 * this digest where identity is not enough: an object replaced by an equal one (a file written
 * again with the same content, an informer's resync) builds the same state, so nothing is
 * built or published; and an object that is not frozen could change in place, so it counts as
 * unchanged only while its digest stays the same.
 *
 * The digest is kept for frozen objects (the YAML registry freezes what it parses and hands the
 * same objects again while their file is unchanged). Before the incremental build the store
 * digested the whole list at every change (a sort of every object's digest: ~90-150 ms at
 * 100,000 pods); now only the objects a change replaces are digested, plus the objects that
 * are not frozen.
 */
import { createHash } from 'node:crypto';
import type { MeshObject } from '../mesh/types.js';
import { canonicalJson } from './canonical-json.js';

const objectDigests = new WeakMap<object, string>();

/** The digest of one object (see the module comment). */
export function objectDigest(o: MeshObject): string {
  const known = objectDigests.get(o);
  if (known !== undefined) return known;
  const digest = createHash('sha256').update(canonicalJson(o)).digest('base64');
  // Only a frozen object cannot change under its cached digest.
  if (Object.isFrozen(o)) objectDigests.set(o, digest);
  return digest;
}
