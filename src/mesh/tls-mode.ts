/**
 * Which MeshTLS mode applies to a workload. Most specific first: a MeshTLS whose selector
 * matches the workload's labels in its namespace, then a namespace-wide MeshTLS (no selector),
 * then a namespace-wide MeshTLS in the root namespace (the mesh-wide default), then PERMISSIVE.
 * When several apply at the same level, STRICT wins: a conflict never weakens security.
 */
import type { MeshTLSObject, TlsMode } from './types.js';

/** Mode when no MeshTLS applies: accept plaintext, so enrolling a namespace breaks nothing. */
export const DEFAULT_TLS_MODE: TlsMode = 'PERMISSIVE';

/** True when every label of `selector` is on `labels` with the same value. */
export function selectorMatches(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/** The mode in force for a workload with these labels in this namespace. */
export function resolveTlsMode(
  workload: { readonly namespace: string; readonly labels: Readonly<Record<string, string>> },
  policies: readonly MeshTLSObject[],
  rootNamespace: string,
): TlsMode {
  const levels: ((p: MeshTLSObject) => boolean)[] = [
    (p) => p.namespace === workload.namespace && p.selector !== undefined && selectorMatches(p.selector, workload.labels),
    (p) => p.namespace === workload.namespace && p.selector === undefined,
    (p) => p.namespace === rootNamespace && p.selector === undefined,
  ];
  for (const applies of levels) {
    const modes = policies.filter(applies).map((p) => p.mode);
    if (modes.length > 0) return modes.includes('STRICT') ? 'STRICT' : 'PERMISSIVE';
  }
  return DEFAULT_TLS_MODE;
}
