/**
 * The valid inputs fuzz targets start from: the repository's own fixtures, read from the
 * source tree (so a new fixture is a new seed without touching the campaign).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Mesh YAML fixtures and samples, relative to the repository root. */
const YAML_DIRS = ['test/fixtures/mesh', 'test/unit/install/samples'];

function yamlFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...yamlFilesUnder(path));
    else if (/\.ya?ml$/.test(entry)) out.push(path);
  }
  return out;
}

/** Every mesh YAML fixture as `{ name, text }` (name relative to the repository root). */
export function meshYamlFiles(): { name: string; text: string }[] {
  return YAML_DIRS.flatMap((d) => yamlFilesUnder(join(ROOT, d))).map((path) => ({ name: path.slice(ROOT.length), text: readFileSync(path, 'utf8') }));
}

/** Every document of every mesh YAML fixture, as plain values. */
export function meshDocuments(): unknown[] {
  return meshYamlFiles().flatMap(({ text }) => parseAllDocuments(text).map((d) => d.toJS() as unknown)).filter((v) => v !== null && v !== undefined);
}

/** Items of the Kubernetes API list fixtures, with the kind of their list. */
export function kubeListItems(): { kind: string; raw: unknown }[] {
  const out: { kind: string; raw: unknown }[] = [];
  for (const [file, kind] of [['pod-list.json', 'Pod'], ['meshtls-list.json', 'MeshTLS']] as const) {
    const list = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/kube', file), 'utf8')) as { items: unknown[] };
    for (const raw of list.items) out.push({ kind, raw });
  }
  return out;
}
