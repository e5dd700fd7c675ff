/**
 * Reads the install files (daemonset/, systemd/, Dockerfile) for the install tests, and turns
 * their command lines and environment files into the flag maps the CLI's config loaders take.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** The repository root (tests run from dist/test/unit/install). */
export const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

/** A Kubernetes object as decoded from YAML: only the type fields are known. */
export interface KubeDoc {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly [key: string]: unknown;
}

/** One object of a manifest file. */
export interface ManifestEntry {
  readonly file: string;
  readonly doc: KubeDoc;
}

/** The manifest files under daemonset/, kustomization.yaml excepted. */
export function manifestFiles(): string[] {
  return readdirSync(join(REPO, 'daemonset'))
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .sort();
}

/** Every YAML document of `text`, failing on a syntax error. */
export function yamlDocuments(text: string, file: string): unknown[] {
  return parseAllDocuments(text).map((d, i) => {
    if (d.errors.length > 0) throw new Error(`${file} document ${i + 1}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as unknown;
  }).filter((d) => d !== null);
}

/** Every object of every manifest file under daemonset/. */
export function loadManifests(): ManifestEntry[] {
  return manifestFiles().flatMap((file) => {
    const text = readFileSync(join(REPO, 'daemonset', file), 'utf8');
    return yamlDocuments(text, file).map((doc) => ({ file, doc: doc as KubeDoc }));
  });
}

/** The one object of `kind` named `name`; throws when there is not exactly one. */
export function findObject(entries: readonly ManifestEntry[], kind: string, name: string): KubeDoc {
  const found = entries.filter((e) => e.doc.kind === kind && e.doc.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return (found[0] as ManifestEntry).doc;
}

/** A text file of the repository. */
export function readRepoFile(path: string): string {
  return readFileSync(join(REPO, path), 'utf8');
}

/**
 * Command-line words after the subcommand (`--drain-seconds=20`, `--kubernetes`,
 * `--server-name a b`) as commander hands them to the config loaders: camelCase keys, strings,
 * `true` for a bare switch, a list for repeated values.
 */
export function argsToFlags(args: readonly string[]): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  let last: string | undefined;
  for (const arg of args) {
    if (!arg.startsWith('--')) {
      if (last === undefined) throw new Error(`a value without a flag: ${arg}`);
      const prev = flags[last];
      flags[last] = prev === true ? arg : [...(Array.isArray(prev) ? prev : [prev]), arg];
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    last = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    flags[last] = eq === -1 ? true : arg.slice(eq + 1);
  }
  return flags;
}

/** `KEY=value` lines of a systemd EnvironmentFile (comments and blank lines skipped). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) throw new Error(`not KEY=value: ${line}`);
    env[trimmed.slice(0, eq)] = trimmed.slice(eq + 1);
  }
  return env;
}
