/**
 * Kubernetes objects for tests from YAML: every document of every `*.yaml` file in a directory
 * (sorted), with `v1 List` documents expanded into their items, as `kubectl apply -f DIR`
 * would create them.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeJson } from './fake-kube-store.js';

/** Objects of every YAML file directly in `dir`. */
export async function readKubeYaml(dir: string): Promise<KubeJson[]> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const out: KubeJson[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(await readFile(join(dir, file), 'utf8'))) {
      const value: unknown = doc.toJS();
      if (typeof value !== 'object' || value === null) continue;
      const obj = value as KubeJson;
      if (obj['kind'] === 'List' && Array.isArray(obj['items'])) out.push(...(obj['items'] as KubeJson[]));
      else out.push(obj);
    }
  }
  return out;
}
