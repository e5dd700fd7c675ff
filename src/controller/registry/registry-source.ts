/**
 * The registry's seam: sources of mesh objects (a directory of YAML, the Kubernetes API) behind
 * one interface, so the state store never cares where objects come from.
 *
 * A source does not push its object set on every event. It says "changed", and the store reads
 * `contents()` when its debounce fires: a burst of a thousand watch events (a re-list) then
 * costs one flattening of the set instead of a thousand.
 */
import type { ParseResult } from '../../mesh/objects/parse.js';
import type { ObjectProblem } from '../../mesh/objects/report.js';
import type { MeshObject } from '../../mesh/types.js';

/** Everything one source holds right now. */
export interface RegistryContents {
  /** The source's name in logs and errors: `yaml:/etc/meshlet/mesh`, `kubernetes`. */
  readonly source: string;
  /** Every valid object, in a stable order. */
  readonly objects: readonly MeshObject[];
  /**
   * Problems that make the whole set unusable: a YAML file that does not parse or validate may
   * be an edit half done, and applying the rest would drop the objects it held. The state store
   * rejects the set and the previous state stays in effect.
   */
  readonly problems: readonly ObjectProblem[];
  /**
   * Objects left out, each with the reason (a Kubernetes object that fails validation). The
   * rest applies: one bad object in one namespace must not freeze the whole mesh.
   */
  readonly excluded: readonly ObjectProblem[];
}

/** A source of mesh objects. */
export interface RegistrySource {
  /** Name in logs, the same as {@link RegistryContents.source}. */
  readonly name: string;
  /**
   * Starts reading. Resolves once the first complete set is known (every file read, every
   * Kubernetes resource listed once); rejects with a MeshletError when the source cannot be
   * read at all, and then holds nothing.
   */
  start(): Promise<void>;
  /** The current set; undefined before the first complete read. Cheap while nothing changes. */
  contents(): RegistryContents | undefined;
  /** Calls `fn` after the set changed; returns the unsubscribe function. */
  onChange(fn: () => void): () => void;
  /** Stops reading and releases everything. Idempotent. */
  close(): Promise<void>;
}

/** Change listeners of a source. A listener that throws does not stop the others. */
export class ChangeListeners {
  private readonly fns = new Set<() => void>();

  /** Adds `fn`; returns the function that removes it. */
  add(fn: () => void): () => void {
    // A wrapper, so the same function subscribed twice is two subscriptions.
    const entry = (): void => fn();
    this.fns.add(entry);
    return () => {
      this.fns.delete(entry);
    };
  }

  /** Calls every listener; returns the errors they threw (the caller logs them). */
  notify(): unknown[] {
    const errors: unknown[] = [];
    for (const fn of [...this.fns]) {
      try {
        fn();
      } catch (err) {
        errors.push(err);
      }
    }
    return errors;
  }

  /** Drops every listener. */
  clear(): void {
    this.fns.clear();
  }
}

/**
 * Parse results keyed by where they came from (a file, or `Pod/demo/web` for an API object),
 * flattened into {@link RegistryContents} only when read after a change.
 */
export class KeyedObjects {
  private readonly entries = new Map<string, ParseResult>();
  private cached: RegistryContents | undefined;

  /**
   * @param source - the source's name, copied into the contents
   * @param problemsBlock - true when a problem rejects the whole set (YAML), false when it
   *   only leaves its own object out (Kubernetes)
   */
  constructor(
    private readonly source: string,
    private readonly problemsBlock: boolean,
  ) {}

  /** Sets what `key` holds now. */
  set(key: string, result: ParseResult): void {
    this.entries.set(key, result);
    this.cached = undefined;
  }

  /** Forgets `key`; returns whether it was there. */
  delete(key: string): boolean {
    const had = this.entries.delete(key);
    if (had) this.cached = undefined;
    return had;
  }

  /** Forgets everything. */
  clear(): void {
    this.entries.clear();
    this.cached = undefined;
  }

  /** How many keys are held. */
  get size(): number {
    return this.entries.size;
  }

  /** The flattened set, in key order (so the same entries always give the same contents). */
  contents(): RegistryContents {
    if (this.cached !== undefined) return this.cached;
    const keys = [...this.entries.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const objects: MeshObject[] = [];
    const problems: ObjectProblem[] = [];
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry === undefined) continue;
      objects.push(...entry.objects);
      problems.push(...entry.problems);
    }
    this.cached = Object.freeze({
      source: this.source,
      objects: Object.freeze(objects),
      problems: Object.freeze(this.problemsBlock ? problems : []),
      excluded: Object.freeze(this.problemsBlock ? [] : problems),
    });
    return this.cached;
  }
}
