/**
 * The controller's configuration: `loadControllerConfig(flags, env)` validates everything at
 * once and returns a deep-frozen object, or throws one MeshletError listing every bad field.
 */
import { isIP } from 'node:net';
import { MeshletError } from '../mesh/errors.js';
import { DEFAULT_TRUST_DOMAIN } from '../mesh/types.js';

/** Where the controller's CA comes from. */
export type CaSource =
  | { readonly kind: 'directory'; readonly dir: string }
  | { readonly kind: 'files'; readonly certFile: string; readonly keyFile: string; readonly bundleFile?: string }
  | { readonly kind: 'kubernetes-secret'; readonly namespace: string; readonly name: string };

/** Where the objects come from. */
export type RegistryConfig =
  | { readonly kind: 'directory'; readonly dir: string }
  | { readonly kind: 'kubernetes'; readonly kubeconfig?: string };

/** Validated controller configuration. */
export interface ControllerConfig {
  readonly registry: RegistryConfig;
  readonly listenHost: string;
  readonly listenPort: number;
  /** Prometheus `/metrics` port (plain HTTP, on `listenHost`); 0 picks a free port. */
  readonly metricsPort: number;
  readonly stateDir: string;
  readonly ca: CaSource;
  readonly trustDomain: string;
  /** Join-token hashes file (systemd hosts); absent: join tokens are not accepted. */
  readonly joinTokensFile?: string;
  /** Accept Kubernetes ServiceAccount tokens (TokenReview); on by default with --kubernetes. */
  readonly kubernetesAuth: boolean;
  /** Workload certificate lifetime. */
  readonly certTtlSeconds: number;
  /** A burst of registry events within this window makes one state version. */
  readonly debounceMs: number;
  /** Extra DNS names and IPs for the controller's serving certificate. */
  readonly serverNames: readonly string[];
  /**
   * Run only while holding the `meshlet-system/meshlet-controller` Lease, so replicas can be
   * added for availability (on by default with --kubernetes). The identity is this replica's
   * name: POD_NAME, else the host name.
   */
  readonly leaderElection?: { readonly identity: string };
  readonly logLevel: string;
}

const KNOWN = new Set([
  'registry', 'kubernetes', 'kubeconfig', 'listen', 'stateDir', 'caCert', 'caKey', 'caBundle', 'caSecret',
  'trustDomain', 'joinTokens', 'kubernetesAuth', 'certTtl', 'debounceMs', 'serverName', 'logLevel', 'leaderElect', 'metricsPort',
]);
const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const ENV: Record<string, string> = {
  registry: 'MESHLET_REGISTRY_DIR',
  listen: 'MESHLET_LISTEN',
  stateDir: 'MESHLET_STATE_DIR',
  trustDomain: 'MESHLET_TRUST_DOMAIN',
  joinTokens: 'MESHLET_JOIN_TOKENS',
  logLevel: 'MESHLET_LOG_LEVEL',
  metricsPort: 'MESHLET_METRICS_PORT',
};

/**
 * Validates flags (falling back to environment variables) into a {@link ControllerConfig}.
 * @throws MeshletError MESHLET_ERR_CONFIG_INVALID listing every bad field.
 */
export function loadControllerConfig(flags: Readonly<Record<string, unknown>>, env: Readonly<Record<string, string | undefined>>): ControllerConfig {
  const problems: string[] = [];
  const bad = (field: string, value: unknown, why: string): void => void problems.push(`${field}=${JSON.stringify(value)}: ${why}`);
  for (const k of Object.keys(flags)) if (!KNOWN.has(k)) bad(k, flags[k], 'unknown option');
  const get = (k: string): unknown => flags[k] ?? (ENV[k] ? env[ENV[k]] : undefined);
  const str = (k: string): string | undefined => {
    const v = get(k);
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') bad(`--${kebab(k)}`, v, 'must be a string');
    return String(v);
  };

  const registryDir = str('registry');
  const kubernetes = get('kubernetes') === true;
  if ((registryDir === undefined) === !kubernetes) bad('--registry/--kubernetes', registryDir ?? kubernetes, 'give exactly one registry: --registry DIR or --kubernetes');
  const kubeconfig = str('kubeconfig');
  if (kubeconfig !== undefined && !kubernetes) bad('--kubeconfig', kubeconfig, 'only with --kubernetes');
  const registry: RegistryConfig = kubernetes ? { kind: 'kubernetes', ...(kubeconfig ? { kubeconfig } : {}) } : { kind: 'directory', dir: registryDir ?? '' };

  const listen = str('listen') ?? '0.0.0.0:15012';
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const listenHost = (m?.[1] ?? m?.[2]) ?? '';
  const listenPort = Number(m?.[3] ?? NaN);
  if (m === null || isIP(listenHost) === 0 || !(listenPort >= 0 && listenPort <= 65535)) bad('--listen', listen, 'must be IP:PORT, e.g. 0.0.0.0:15012');

  const rawMetricsPort = get('metricsPort') ?? '';
  const metricsPort = rawMetricsPort === '' ? 15014 : Number(rawMetricsPort);
  if (!/^\d{1,5}$/.test(String(rawMetricsPort || '0')) || metricsPort > 65535) bad('--metrics-port', rawMetricsPort, 'must be a port number 0..65535 (0: any free port)');

  const stateDir = str('stateDir') ?? '/var/lib/meshlet-controller';
  const caCert = str('caCert');
  const caKey = str('caKey');
  const caBundle = str('caBundle');
  const caSecret = get('caSecret') === true;
  if ((caCert === undefined) !== (caKey === undefined)) bad('--ca-cert/--ca-key', caCert ?? caKey, 'give both or neither');
  if (caBundle !== undefined && caCert === undefined) bad('--ca-bundle', caBundle, 'only with --ca-cert and --ca-key');
  if (caSecret && caCert !== undefined) bad('--ca-secret', true, 'not with --ca-cert: pick one CA source');
  if (caSecret && !kubernetes) bad('--ca-secret', true, 'needs --kubernetes');
  const ca: CaSource = caSecret
    ? { kind: 'kubernetes-secret', namespace: 'meshlet-system', name: 'meshlet-ca' }
    : caCert !== undefined && caKey !== undefined
      ? { kind: 'files', certFile: caCert, keyFile: caKey, ...(caBundle ? { bundleFile: caBundle } : {}) }
      : { kind: 'directory', dir: `${stateDir}/ca` };

  const trustDomain = str('trustDomain') ?? DEFAULT_TRUST_DOMAIN;
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(trustDomain)) bad('--trust-domain', trustDomain, 'must be a lowercase DNS-like name');
  const joinTokensFile = str('joinTokens');
  const kubernetesAuth = get('kubernetesAuth') === undefined ? kubernetes : get('kubernetesAuth') === true;
  if (joinTokensFile === undefined && !kubernetesAuth) bad('--join-tokens', '', 'agents need a way in: --join-tokens FILE, or Kubernetes tokens (--kubernetes)');
  const certTtlSeconds = num(get('certTtl'), 86_400);
  // 10 s at least: renewal happens at half-life and must leave time to reach the controller.
  if (!Number.isInteger(certTtlSeconds) || certTtlSeconds < 10) bad('--cert-ttl', get('certTtl'), 'must be whole seconds >= 10');
  const debounceMs = num(get('debounceMs'), 100);
  if (!Number.isFinite(debounceMs) || debounceMs < 0 || debounceMs > 10_000) bad('--debounce-ms', get('debounceMs'), 'must be 0..10000');
  const serverNames = list(get('serverName'));
  const logLevel = str('logLevel') ?? 'info';
  if (!LEVELS.has(logLevel)) bad('--log-level', logLevel, `must be one of ${[...LEVELS].join(', ')}`);

  const leaderElect = get('leaderElect') === undefined ? kubernetes : get('leaderElect') === true;
  if (leaderElect && !kubernetes) bad('--leader-elect', true, 'needs --kubernetes (the Lease lives in the Kubernetes API)');
  const identity = env['POD_NAME'] ?? env['HOSTNAME'] ?? '';
  if (leaderElect && identity === '') bad('POD_NAME', '', 'leader election needs this replica\'s name (POD_NAME or HOSTNAME)');

  if (problems.length > 0) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `invalid controller configuration:\n  ${problems.join('\n  ')}`, { details: problems });
  }
  return deepFreeze({
    registry, listenHost, listenPort, metricsPort, stateDir, ca, trustDomain,
    ...(joinTokensFile ? { joinTokensFile } : {}),
    kubernetesAuth, certTtlSeconds, debounceMs, serverNames, logLevel,
    ...(leaderElect ? { leaderElection: { identity } } : {}),
  });
}

function num(v: unknown, fallback: number): number {
  return v === undefined ? fallback : Number(v);
}

function list(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

function kebab(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
