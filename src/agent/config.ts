/**
 * The agent's configuration: `loadAgentConfig(flags, env)` validates everything at once and
 * returns a deep-frozen object, or throws one MeshletError listing every bad field. Tests pass
 * values in; nothing reads process.env here.
 */
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { DEFAULT_TRUST_DOMAIN } from '../mesh/types.js';
import { isIpAddress } from '../mesh/validate/formats.js';
import { Problems } from '../mesh/validate/problems.js';
import {
  checkSettingNames,
  deepFreeze,
  numberSetting,
  oneOfSetting,
  portSetting,
  settingLookup,
  stringSetting,
  type Environment,
} from '../mesh/validate/settings.js';
import { parseAccessLogMode, type AccessLogMode } from './proxy/access-log.js';
import { DEFAULT_ADMIN_TOKEN_FILE } from './admin/token.js';
import { DEFAULT_SNIFF_TIMEOUT_MS } from './http/sniff.js';

/** How an agent reaches its controller. */
export interface ControllerEndpoint {
  /** `host:port` of the controller's agent API. */
  readonly address: string;
  /** PEM bundle the controller's certificate must chain to (the mesh root). */
  readonly caFile: string;
  /** The credential: a join token file (systemd hosts) or a Kubernetes ServiceAccount token file. */
  readonly token: { readonly kind: 'join-token' | 'kubernetes-token'; readonly file: string };
}

/** Validated agent configuration. */
export interface AgentConfig {
  readonly node: string;
  /** Static mode: a directory of mesh YAML ('' in controller mode). */
  readonly configDir: string;
  /** Controller mode: snapshots and certificates from the controller. */
  readonly controller?: ControllerEndpoint;
  /**
   * The agent's state: in controller mode the last good snapshot (`agent-snapshot.json`, one
   * agent per directory); in static mode the CA (`ca/`, shared by the agents of one host or lab).
   */
  readonly stateDir: string;
  /**
   * The unix socket an upgrade's listener handover goes through (`handover/`): the agent
   * listens on it, and a new agent started beside it asks there for its listening sockets.
   * Default `<stateDir>/agent-handover.sock`: the state directory outlives the pod.
   */
  readonly handoverSocket: string;
  readonly trustDomain: string;
  readonly logLevel: string;
  readonly ports: {
    readonly outbound: number;
    readonly inbound: number;
    readonly tunnel: number;
    readonly readiness: number;
    /** Admin API (`/config_dump`, `/logging`, `/quitquitquit`, ...): on {@link AgentConfig.adminAddress} only. */
    readonly admin: number;
    /** Prometheus `/metrics`, on {@link AgentConfig.bindAddress}. */
    readonly metrics: number;
  };
  /**
   * Address of the admin API: a loopback address, always. The admin API changes log levels and
   * stops the agent, so it must never be reachable from a pod or another host.
   */
  readonly adminAddress: string;
  /**
   * Where the agent writes the admin API's token at start (mode 0600): every admin call but
   * the index and health answers needs it (`Authorization: Bearer`), since loopback is shared
   * with every hostNetwork pod. An absolute path.
   */
  readonly adminTokenFile: string;
  /** Which closed connections get an access-log line. */
  readonly accessLog: AccessLogMode;
  /** Address the capture and tunnel listeners bind (IPv4 wildcard by default; IPv6 added when available). */
  readonly bindAddress: string;
  /** Whether the agent applies its capture rules (off for in-process tests on loopback). */
  readonly manageIptables: boolean;
  /**
   * Accept loopback workload addresses (127.0.0.0/8, ::1). Only for in-process tests, where every
   * workload is a socket on 127.0.0.1; no CLI flag or environment variable sets it, since a
   * loopback "workload" would relay pods to the node's own services. The agent's own ports stay
   * refused on every address.
   */
  readonly loopbackWorkloads: boolean;
  /** How long a drain lets connections finish before closing the rest. */
  readonly drainDeadlineMs: number;
  /** Workload certificate lifetime requested from the CA. */
  readonly certTtlSeconds: number;
  /**
   * What meshed traffic does while the agent is down. `closed` (default): the capture rules
   * stay, so connections are refused and policy cannot be bypassed. `open`: the agent lifts
   * its rules when it stops, so traffic flows unmeshed (plaintext, no policy) until it is back.
   */
  readonly failureMode: 'closed' | 'open';
  /**
   * Processes serving the data path. 1: in the agent's own process (the default here, so
   * library callers and tests run in-process). 2..64: that many worker processes sharing the
   * listeners through SO_REUSEPORT, the control plane staying in the agent process. `meshlet
   * agent` defaults to `auto`, one per core.
   */
  readonly workers: number;
  /**
   * L7: `on` (default) serves HTTP Service ports (declared or detected) request by request;
   * `off` carries every connection as opaque TCP, as before L7 existed.
   */
  readonly l7: 'on' | 'off';
  /** How long protocol detection waits for a client's first bytes on an undeclared port (ms). */
  readonly protocolDetectionTimeoutMs: number;
  /**
   * Source address preservation: `on` connects to workloads from their clients' addresses
   * (IP_TRANSPARENT, with the return-path rules applied with the capture rules), falling back to
   * the agent's address where the kernel refuses it (no CAP_NET_ADMIN); `off` always uses the
   * agent's address. Default `on` when the agent manages its rules, `off` with `--no-iptables`
   * (whoever manages the rules then must add the return path too: docs/iptables.md).
   */
  readonly preserveSource: 'on' | 'off';
}

/** Longest protocol-detection wait an operator may set: beyond it server-first clients time out. */
export const MAX_PROTOCOL_DETECTION_TIMEOUT_MS = 10_000;

/** Most worker processes an agent runs: beyond this, memory grows and nothing gets faster. */
export const MAX_WORKERS = 64;

/** Raw inputs: flags as commander parsed them (strings/booleans/numbers) and environment. */
export type RawFlags = Readonly<Record<string, unknown>>;

const KNOWN_FLAGS = [
  'node', 'config', 'stateDir', 'trustDomain', 'logLevel', 'outboundPort', 'inboundPort', 'tunnelPort',
  'readinessPort', 'bind', 'iptables', 'drainSeconds', 'certTtl', 'controller', 'controllerCa', 'joinTokenFile', 'kubeTokenFile', 'failureMode',
  'adminPort', 'adminAddress', 'adminTokenFile', 'metricsPort', 'accessLog', 'workers', 'loopbackWorkloads',
  'l7', 'protocolDetectionTimeout', 'handoverSocket', 'preserveSource',
] as const;

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Flag name -> environment variable that can supply it. */
const ENV: Record<string, string> = {
  node: 'MESHLET_NODE',
  config: 'MESHLET_CONFIG_DIR',
  stateDir: 'MESHLET_STATE_DIR',
  trustDomain: 'MESHLET_TRUST_DOMAIN',
  logLevel: 'MESHLET_LOG_LEVEL',
  drainSeconds: 'MESHLET_DRAIN_SECONDS',
  controller: 'MESHLET_CONTROLLER',
  controllerCa: 'MESHLET_CONTROLLER_CA',
  joinTokenFile: 'MESHLET_JOIN_TOKEN_FILE',
  kubeTokenFile: 'MESHLET_KUBE_TOKEN_FILE',
  failureMode: 'MESHLET_FAILURE_MODE',
  accessLog: 'MESHLET_ACCESS_LOG',
  workers: 'MESHLET_WORKERS',
  adminTokenFile: 'MESHLET_ADMIN_TOKEN_FILE',
  l7: 'MESHLET_L7',
  protocolDetectionTimeout: 'MESHLET_PROTOCOL_DETECTION_TIMEOUT',
  handoverSocket: 'MESHLET_HANDOVER_SOCKET',
  preserveSource: 'MESHLET_PRESERVE_SOURCE',
};

/**
 * Validates flags (falling back to environment variables) into an {@link AgentConfig}.
 * @throws MeshletError MESHLET_ERR_CONFIG_INVALID listing every bad field.
 */
export function loadAgentConfig(flags: RawFlags, env: Environment): AgentConfig {
  const p = new Problems();
  checkSettingNames(p, flags, KNOWN_FLAGS);
  const get = settingLookup(flags, env, ENV);
  const node = stringSetting(p, '--node', get('node'));
  if (node !== '' && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(node)) p.setting('--node', node, 'must be a DNS-1123 name (a Kubernetes node name)');
  const logLevel = oneOfSetting(p, '--log-level', get('logLevel'), LEVELS, 'info');
  const bindAddress = stringSetting(p, '--bind', get('bind'), '0.0.0.0');
  if (!isIpAddress(bindAddress)) p.setting('--bind', bindAddress, 'must be an IP address');
  const trustDomain = stringSetting(p, '--trust-domain', get('trustDomain'), DEFAULT_TRUST_DOMAIN);
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(trustDomain)) p.setting('--trust-domain', trustDomain, 'must be a lowercase DNS-like name');
  const controller = controllerEndpoint(p, get);
  const configDir = stringSetting(p, '--config', get('config'), controller === undefined ? undefined : '');
  if (controller !== undefined && configDir !== '') p.setting('--config', configDir, 'not with --controller: pick static mode or controller mode');
  const stateDir = stringSetting(p, '--state-dir', get('stateDir'), '/var/lib/meshlet');
  const config: AgentConfig = {
    node,
    configDir,
    ...(controller === undefined ? {} : { controller }),
    stateDir,
    handoverSocket: handoverSocket(p, get('handoverSocket'), stateDir),
    trustDomain,
    logLevel,
    ports: {
      outbound: portSetting(p, '--outbound-port', get('outboundPort'), 15001),
      inbound: portSetting(p, '--inbound-port', get('inboundPort'), 15006),
      tunnel: portSetting(p, '--tunnel-port', get('tunnelPort'), 15008),
      readiness: portSetting(p, '--readiness-port', get('readinessPort'), 15021),
      admin: portSetting(p, '--admin-port', get('adminPort'), 15000),
      metrics: portSetting(p, '--metrics-port', get('metricsPort'), 15020),
    },
    adminAddress: adminAddress(p, get('adminAddress')),
    adminTokenFile: adminTokenFile(p, get('adminTokenFile')),
    accessLog: accessLog(p, get('accessLog')),
    bindAddress,
    manageIptables: get('iptables') !== false,
    // Flags only (never the environment): tests pass it in, an operator cannot turn it on by accident.
    loopbackWorkloads: flags['loopbackWorkloads'] === true,
    // Kubernetes gives a pod 30 s of grace by default; draining for 20 s leaves time to exit.
    drainDeadlineMs: Math.round(numberSetting(p, '--drain-seconds', get('drainSeconds'), 20, { min: 0, why: 'must be a number of seconds >= 0' }) * 1000),
    certTtlSeconds: Math.round(numberSetting(p, '--cert-ttl', get('certTtl'), 86_400, { min: 60, why: 'must be a number of seconds >= 60' })),
    failureMode: oneOfSetting(p, '--failure-mode', get('failureMode'), ['closed', 'open'], 'closed'),
    workers: workers(p, get('workers')),
    l7: oneOfSetting(p, '--l7', get('l7'), ['on', 'off'], 'on'),
    preserveSource: oneOfSetting(p, '--preserve-source', get('preserveSource'), ['on', 'off'], get('iptables') !== false ? 'on' : 'off'),
    protocolDetectionTimeoutMs: numberSetting(p, '--protocol-detection-timeout', get('protocolDetectionTimeout'), DEFAULT_SNIFF_TIMEOUT_MS, {
      min: 1, max: MAX_PROTOCOL_DETECTION_TIMEOUT_MS, integer: true, why: `must be an integer number of milliseconds 1..${MAX_PROTOCOL_DETECTION_TIMEOUT_MS}`,
    }),
  };
  p.throwIfAny('MESHLET_ERR_CONFIG_INVALID', 'invalid agent configuration');
  return deepFreeze(config);
}

function adminAddress(p: Problems, value: unknown): string {
  if (value === undefined) return '127.0.0.1';
  const a = String(value);
  const loopback = (isIP(a) === 4 && a.startsWith('127.')) || a === '::1';
  if (!loopback) p.setting('--admin-address', value, 'must be a loopback address (127.0.0.0/8 or ::1): the admin API must not be reachable from pods');
  return a;
}

/** sun_path holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH = 107;

function handoverSocket(p: Problems, value: unknown, stateDir: string): string {
  const path = stringSetting(p, '--handover-socket', value, `${stateDir.replace(/\/+$/, '')}/agent-handover.sock`);
  if (!path.startsWith('/')) p.setting('--handover-socket', path, 'must be an absolute path');
  else if (Buffer.byteLength(path) > MAX_SOCKET_PATH) p.setting('--handover-socket', path, `must be at most ${MAX_SOCKET_PATH} bytes (a unix socket path)`);
  return path;
}

function adminTokenFile(p: Problems, value: unknown): string {
  const file = stringSetting(p, '--admin-token-file', value, DEFAULT_ADMIN_TOKEN_FILE);
  if (!file.startsWith('/')) p.setting('--admin-token-file', value, 'must be an absolute path');
  return file;
}

function accessLog(p: Problems, value: unknown): AccessLogMode {
  if (value === undefined) return { kind: 'on' };
  const mode = parseAccessLogMode(String(value));
  if (typeof mode === 'string') {
    p.setting('--access-log', value, mode);
    return { kind: 'on' };
  }
  return mode;
}

/** `--workers N|auto`: auto is one per core (`os.availableParallelism()`), capped at {@link MAX_WORKERS}. */
function workers(p: Problems, value: unknown, cores = availableParallelism()): number {
  if (value === undefined) return 1;
  if (value === 'auto') return Math.min(Math.max(cores, 1), MAX_WORKERS);
  return numberSetting(p, '--workers', value, 1, { min: 1, max: MAX_WORKERS, integer: true, why: `must be auto or an integer 1..${MAX_WORKERS}` });
}

/** Controller mode flags, checked; undefined in static mode. */
function controllerEndpoint(p: Problems, get: (k: string) => unknown): ControllerEndpoint | undefined {
  const address = get('controller');
  const caFile = get('controllerCa');
  const joinTokenFile = get('joinTokenFile');
  const kubeTokenFile = get('kubeTokenFile');
  if (address === undefined || address === '') {
    for (const [flag, v] of [['--controller-ca', caFile], ['--join-token-file', joinTokenFile], ['--kube-token-file', kubeTokenFile]] as const) {
      if (v !== undefined) p.setting(flag, v, 'only with --controller');
    }
    return undefined;
  }
  if (typeof address !== 'string' || !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(address)) p.setting('--controller', address, 'must be HOST:PORT');
  if (typeof caFile !== 'string' || caFile === '') p.setting('--controller-ca', caFile ?? '', 'required with --controller: the CA bundle the controller certificate chains to');
  if ((joinTokenFile === undefined) === (kubeTokenFile === undefined)) {
    p.setting('--join-token-file/--kube-token-file', joinTokenFile ?? kubeTokenFile ?? '', 'give exactly one credential with --controller');
  }
  const token =
    joinTokenFile !== undefined
      ? { kind: 'join-token' as const, file: String(joinTokenFile) }
      : { kind: 'kubernetes-token' as const, file: String(kubeTokenFile ?? '') };
  return { address: String(address), caFile: String(caFile ?? ''), token };
}
