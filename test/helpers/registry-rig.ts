/**
 * Test rigs for the registry: a fake Kubernetes API with a KubernetesSource on it (fast
 * backoffs), and a logger whose lines a test can read.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { KubernetesSource, type KubernetesSourceOptions } from '../../src/controller/registry/kubernetes-source.js';
import type { MeshObject } from '../../src/mesh/types.js';
import { FakeKubeApi, type KubeJson } from './fake-kube-api.js';

/** What a test needs to tear things down. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A logger that keeps its JSON lines in `lines`. */
export function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** Timings short enough for tests: retries in tens of milliseconds. */
export const FAST: Pick<KubernetesSourceOptions, 'restartBackoff' | 'watchTiming' | 'syncTimeoutMs'> = {
  restartBackoff: { initialMs: 20, maxMs: 200 },
  watchTiming: { initialPaceMs: 20, maxPaceMs: 200, minHealthyMs: 50 },
  syncTimeoutMs: 5_000,
};

/** A running fake API holding `objects`, and a client config for it. */
export async function startFakeApi(t: Teardown, objects: readonly KubeJson[] = []): Promise<{ api: FakeKubeApi; kubeConfig: KubeConfig }> {
  const api = await FakeKubeApi.start();
  t.teardown(() => api.close());
  api.apply(...objects);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(api.kubeconfig());
  return { api, kubeConfig };
}

/** A Kubernetes source on `api`, not started, closed at teardown. */
export function kubernetesSource(
  t: Teardown,
  kubeConfig: KubeConfig,
  logger: Logger,
  extra: Partial<KubernetesSourceOptions> = {},
): KubernetesSource {
  const source = new KubernetesSource({ kubeConfig, logger, ...FAST, ...extra });
  t.teardown(() => source.close());
  return source;
}

/** `Pod demo/web`, `Node node-a`: one line per object, sorted, to compare sets. */
export function describeObjects(objects: readonly MeshObject[] | undefined): string[] {
  return (objects ?? []).map((o) => ('namespace' in o ? `${o.kind} ${o.namespace}/${o.name}` : `${o.kind} ${o.name}`)).sort();
}
