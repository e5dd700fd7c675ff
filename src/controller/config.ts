/**
 * The controller's configuration: `loadControllerConfig(flags, env)` validates everything at
 * once and returns a deep-frozen object, or throws one MeshletError listing every bad field.
 */
import { DEFAULT_TRUST_DOMAIN } from '../mesh/types.js';
import { isIpAddress } from '../mesh/validate/formats.js';
import { Problems } from '../mesh/validate/problems.js';
import {
  booleanSetting,
  checkSettingNames,
  deepFreeze,
  listSetting,
  numberSetting,
  oneOfSetting,
  optStringSetting,
  portSetting,
  settingLookup,
  type Environment,
  type RawSettings,
} from '../mesh/validate/settings.js';

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
  /** The debug port on 127.0.0.1 (`meshlet proxy-status`). */
  readonly debugPort: number;
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

const KNOWN = [
  'registry', 'kubernetes', 'kubeconfig', 'listen', 'stateDir', 'caCert', 'caKey', 'caBundle', 'caSecret',
  'trustDomain', 'joinTokens', 'kubernetesAuth', 'certTtl', 'debounceMs', 'serverName', 'logLevel', 'leaderElect', 'metricsPort', 'debugPort',
] as const;
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const ENV: Record<string, string> = {
  registry: 'MESHLET_REGISTRY_DIR',
  listen: 'MESHLET_LISTEN',
  stateDir: 'MESHLET_STATE_DIR',
  trustDomain: 'MESHLET_TRUST_DOMAIN',
  joinTokens: 'MESHLET_JOIN_TOKENS',
  logLevel: 'MESHLET_LOG_LEVEL',
  metricsPort: 'MESHLET_METRICS_PORT',
  debugPort: 'MESHLET_DEBUG_PORT',
};

/**
 * Validates flags (falling back to environment variables) into a {@link ControllerConfig}.
 * @throws MeshletError MESHLET_ERR_CONFIG_INVALID listing every bad field.
 */
export function loadControllerConfig(flags: RawSettings, env: Environment): ControllerConfig {
  const p = new Problems();
  checkSettingNames(p, flags, KNOWN);
  const get = settingLookup(flags, env, ENV);
  const str = (k: string): string | undefined => optStringSetting(p, `--${kebab(k)}`, get(k));

  const registryDir = str('registry');
  const kubernetes = get('kubernetes') === true;
  if ((registryDir === undefined) === !kubernetes) p.setting('--registry/--kubernetes', registryDir ?? kubernetes, 'give exactly one registry: --registry DIR or --kubernetes');
  const kubeconfig = str('kubeconfig');
  if (kubeconfig !== undefined && !kubernetes) p.setting('--kubeconfig', kubeconfig, 'only with --kubernetes');
  const registry: RegistryConfig = kubernetes ? { kind: 'kubernetes', ...(kubeconfig ? { kubeconfig } : {}) } : { kind: 'directory', dir: registryDir ?? '' };

  const listen = str('listen') ?? '0.0.0.0:15012';
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const listenHost = (m?.[1] ?? m?.[2]) ?? '';
  const listenPort = Number(m?.[3] ?? NaN);
  if (m === null || !isIpAddress(listenHost) || !(listenPort >= 0 && listenPort <= 65535)) p.setting('--listen', listen, 'must be IP:PORT, e.g. 0.0.0.0:15012');

  const metricsPort = portSetting(p, '--metrics-port', get('metricsPort'), 15014, '(0: any free port)');
  const debugPort = portSetting(p, '--debug-port', get('debugPort'), 15013, '(0: any free port)');

  const stateDir = str('stateDir') ?? '/var/lib/meshlet-controller';
  const caCert = str('caCert');
  const caKey = str('caKey');
  const caBundle = str('caBundle');
  const caSecret = booleanSetting(get('caSecret'), false);
  if ((caCert === undefined) !== (caKey === undefined)) p.setting('--ca-cert/--ca-key', caCert ?? caKey, 'give both or neither');
  if (caBundle !== undefined && caCert === undefined) p.setting('--ca-bundle', caBundle, 'only with --ca-cert and --ca-key');
  if (caSecret && caCert !== undefined) p.setting('--ca-secret', true, 'not with --ca-cert: pick one CA source');
  if (caSecret && !kubernetes) p.setting('--ca-secret', true, 'needs --kubernetes');
  const ca: CaSource = caSecret
    ? { kind: 'kubernetes-secret', namespace: 'meshlet-system', name: 'meshlet-ca' }
    : caCert !== undefined && caKey !== undefined
      ? { kind: 'files', certFile: caCert, keyFile: caKey, ...(caBundle ? { bundleFile: caBundle } : {}) }
      : { kind: 'directory', dir: `${stateDir}/ca` };

  const trustDomain = str('trustDomain') ?? DEFAULT_TRUST_DOMAIN;
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(trustDomain)) p.setting('--trust-domain', trustDomain, 'must be a lowercase DNS-like name');
  const joinTokensFile = str('joinTokens');
  const kubernetesAuth = booleanSetting(get('kubernetesAuth'), kubernetes);
  if (joinTokensFile === undefined && !kubernetesAuth) p.setting('--join-tokens', '', 'agents need a way in: --join-tokens FILE, or Kubernetes tokens (--kubernetes)');
  // 10 s at least: renewal happens at half-life and must leave time to reach the controller.
  const certTtlSeconds = numberSetting(p, '--cert-ttl', get('certTtl'), 86_400, { min: 10, integer: true, why: 'must be whole seconds >= 10' });
  const debounceMs = numberSetting(p, '--debounce-ms', get('debounceMs'), 100, { min: 0, max: 10_000, why: 'must be 0..10000' });
  const serverNames = listSetting(get('serverName'));
  const logLevel = oneOfSetting(p, '--log-level', get('logLevel'), LEVELS, 'info');

  const leaderElect = booleanSetting(get('leaderElect'), kubernetes);
  if (leaderElect && !kubernetes) p.setting('--leader-elect', true, 'needs --kubernetes (the Lease lives in the Kubernetes API)');
  const identity = env['POD_NAME'] ?? env['HOSTNAME'] ?? '';
  if (leaderElect && identity === '') p.setting('POD_NAME', '', 'leader election needs this replica\'s name (POD_NAME or HOSTNAME)');

  p.throwIfAny('MESHLET_ERR_CONFIG_INVALID', 'invalid controller configuration');
  return deepFreeze({
    registry, listenHost, listenPort, metricsPort, debugPort, stateDir, ca, trustDomain,
    ...(joinTokensFile ? { joinTokensFile } : {}),
    kubernetesAuth, certTtlSeconds, debounceMs, serverNames, logLevel,
    ...(leaderElect ? { leaderElection: { identity } } : {}),
  });
}

function kebab(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
