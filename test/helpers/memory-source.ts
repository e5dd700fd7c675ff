/**
 * A registry source held in memory, for state store tests: the test sets its contents and
 * the store hears the change, as it would from a file edit or a watch event.
 */
import { ChangeListeners, type RegistryContents, type RegistrySource } from '../../src/controller/registry/registry-source.js';
import type { ObjectProblem } from '../../src/mesh/objects/report.js';
import type { MeshObject } from '../../src/mesh/types.js';

/** A source whose contents the test sets. */
export class MemorySource implements RegistrySource {
  private current: RegistryContents | undefined;
  private readonly listeners = new ChangeListeners();
  closed = false;

  constructor(readonly name = 'memory') {}

  async start(): Promise<void> {}

  contents(): RegistryContents | undefined {
    return this.current;
  }

  onChange(fn: () => void): () => void {
    return this.listeners.add(fn);
  }

  /** Replaces the contents and tells the listeners. */
  set(objects: readonly MeshObject[], problems: readonly ObjectProblem[] = [], excluded: readonly ObjectProblem[] = []): void {
    this.current = { source: this.name, objects, problems, excluded };
    this.listeners.notify();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }
}
