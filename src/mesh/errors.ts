/**
 * meshlet's one error type. Callers branch on `code`, never on `message`.
 * Every code is listed in `docs/errors.md`; a unit test pins the two together.
 */

/** Stable error codes with a one-line meaning each (the meaning is also the docs' text). */
export const ERROR_CODES = {
  MESHLET_ERR_CONFIG_INVALID: 'Configuration (flags, environment or a config file) is invalid.',
  MESHLET_ERR_YAML_PARSE: 'A YAML file could not be parsed.',
  MESHLET_ERR_OBJECT_INVALID: 'A mesh object (Pod, Service, Workload, ...) failed validation.',
  MESHLET_ERR_OBJECT_CONFLICT: 'Two mesh objects conflict (duplicate name, duplicate address).',
  MESHLET_ERR_IPTABLES_RESTORE: 'iptables-restore rejected the rules meshlet rendered.',
  MESHLET_ERR_IPTABLES_BACKEND: 'No usable iptables backend (legacy or nft) was found.',
  MESHLET_ERR_IPTABLES_DRIFT: 'The kernel rules differ from the rules meshlet wants.',
  MESHLET_ERR_ORIGINAL_DST: 'The original destination of a captured connection could not be read.',
  MESHLET_ERR_NO_ROUTE: 'No endpoint or route exists for a destination.',
  MESHLET_ERR_TUNNEL_HANDSHAKE: 'The mTLS handshake of a tunnel connection failed.',
  MESHLET_ERR_TUNNEL_CONNECT: 'A tunnel CONNECT request failed or was refused.',
  MESHLET_ERR_TUNNEL_IDENTITY: 'A tunnel peer presented an identity other than the expected one.',
  MESHLET_ERR_TUNNEL_PEER_LOST: 'An established tunnel peer stopped answering keepalive PINGs; its session was closed.',
  MESHLET_ERR_TUNNEL_LIMIT: 'A tunnel peer reached a limit of the tunnel port (connections, handshakes, streams, session age or idleness) and was refused or closed.',
  MESHLET_ERR_POLICY_DENIED: 'Mesh policy refused a connection.',
  MESHLET_ERR_WORKLOAD_LIMIT: "A local workload reached its limit on its node's agent (meshlet.io/max-connections or the default) and the excess connection was refused.",
  MESHLET_ERR_CERT: 'A certificate could not be issued, loaded or verified.',
  MESHLET_ERR_CA: 'The certificate authority could not be created, loaded or used.',
  MESHLET_ERR_LAB: 'A lab topology operation (namespaces, veths, processes) failed.',
  MESHLET_ERR_UNAUTHENTICATED: 'An agent could not prove who it is to the controller.',
  MESHLET_ERR_CERT_NOT_AUTHORIZED: 'A node asked for a certificate of an identity with no workload scheduled on it.',
  MESHLET_ERR_AUTH_UNAVAILABLE: "The controller could not check an agent's credentials (TokenReview failed or timed out); retry later.",
  MESHLET_ERR_RATE_LIMITED: 'A request was refused because a rate or concurrency limit was reached; retry later.',
  MESHLET_ERR_CONTROLLER: 'The controller connection failed or sent something the agent could not use.',
  MESHLET_ERR_REGISTRY: 'A registry source (YAML directory, Kubernetes API) failed.',
  MESHLET_ERR_ADMIN_UNREACHABLE: "The agent's admin API could not be reached or did not answer JSON.",
  MESHLET_ERR_ADMIN_UNAUTHORIZED: "The agent's admin API refused the call: the admin token is missing, unreadable or not the agent's.",
  MESHLET_ERR_NODE_AGENT: "The agent of the node named with --node could not be found or reached through the Kubernetes API (no such node, no agent pod, pod not ready, forbidden, port-forward or exec failed).",
  MESHLET_ERR_HOST_TOOL: 'A required host tool (ip, iptables, ...) is missing or failed.',
  MESHLET_ERR_CLOSED: 'The component was closed or destroyed.',
  MESHLET_ERR_LISTEN: 'A listening socket could not be made (socket, setsockopt, bind or listen failed).',
  MESHLET_ERR_TRANSPARENT_SOCKET: "A socket connecting from the client's address could not be made (IP_TRANSPARENT or bind failed; EPERM: no CAP_NET_ADMIN).",
  MESHLET_ERR_WORKER: 'A data-path worker process failed to start: it exited, reported a failure or did not bind in time.',
  MESHLET_ERR_HANDOVER: "An agent upgrade's listener handover failed: the peer on the handover socket sent something malformed, refused, or passed sockets that are not the agent's listeners.",
  MESHLET_ERR_STATE_FILE: "A file in the agent's state directory (the last good snapshot) could not be read, written or decoded.",
} as const;

/** One of meshlet's stable error codes. */
export type MeshletErrorCode = keyof typeof ERROR_CODES;

/** An error with a stable `code`, an optional `cause` and optional structured details. */
export class MeshletError extends Error {
  readonly code: MeshletErrorCode;
  readonly details: readonly string[];

  constructor(
    code: MeshletErrorCode,
    message: string,
    options: { cause?: unknown; details?: readonly string[] } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MeshletError';
    this.code = code;
    this.details = Object.freeze([...(options.details ?? [])]);
  }
}

/** True when `err` is a MeshletError, optionally with the given code. */
export function isMeshletError(err: unknown, code?: MeshletErrorCode): err is MeshletError {
  return err instanceof MeshletError && (code === undefined || err.code === code);
}

/** Exit code for bad configuration or usage (sysexits.h EX_USAGE). */
export const EXIT_USAGE = 64;

/**
 * Error codes of socket errors that are ordinary connection outcomes (a peer went away),
 * reported as a flag in the access log rather than as errors.
 */
const NORMAL_DISCONNECT_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'EPIPE',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_HTTP2_STREAM_CANCEL',
]);

/** True when `err` is a normal disconnect (peer reset, broken pipe), not a fault. */
export function isNormalDisconnect(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NORMAL_DISCONNECT_CODES.has(code);
}
