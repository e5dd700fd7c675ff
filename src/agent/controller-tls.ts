/**
 * TLS towards the controller: its certificate must chain to the configured CA bundle and carry
 * the controller's SPIFFE ID. The host name is not checked: agents dial the controller by
 * address or Service name, and its certificate names an identity, not a host.
 */
import type { PeerCertificate } from 'node:tls';
import { credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { MeshletError } from '../mesh/errors.js';
import { spiffeIdsFromSubjectAltName } from '../mesh/identity.js';
import { controllerIdentity } from '../mesh/snapshot-wire.js';

/**
 * TLS server name the agent sends. A fixed DNS name rather than the dialled address: SNI may not
 * be an IP address (RFC 6066), and the controller presents one certificate whatever the name.
 */
export const CONTROLLER_SERVER_NAME = 'meshlet-controller';

/**
 * `checkServerIdentity` for the controller: undefined when the certificate carries exactly the
 * controller's SPIFFE ID among its SANs, else the error that fails the handshake.
 */
export function checkControllerIdentity(trustDomain: string): (host: string, cert: PeerCertificate) => Error | undefined {
  const wanted = controllerIdentity(trustDomain);
  return (_host, cert) => {
    const ids = spiffeIdsFromSubjectAltName(cert.subjectaltname ?? '');
    if (ids.includes(wanted)) return undefined;
    return new MeshletError(
      'MESHLET_ERR_CONTROLLER',
      `the controller's certificate is for ${ids.length === 0 ? 'no SPIFFE ID' : ids.join(', ')}, not ${wanted}`,
    );
  };
}

/** Channel credentials: the CA bundle and the controller-identity check. */
export function controllerChannelCredentials(caPem: string, trustDomain: string): ChannelCredentials {
  return credentials.createSsl(Buffer.from(caPem), null, null, { checkServerIdentity: checkControllerIdentity(trustDomain) });
}

/**
 * Channel options, with reasons:
 * - keepalive: PING every 20 s, give up after 10 s without an answer, even between calls: a
 *   controller that vanished without a FIN is noticed within half a minute and the agent
 *   reconnects (to its replacement) instead of waiting on a dead TCP connection;
 * - the channel's own reconnect backoff follows the client's, so neither holds the other back;
 * - max receive 64 MiB: the gzipped cluster view of 5,000 pods is well under 1 MiB; this is a
 *   bound, not a budget.
 */
export function controllerChannelOptions(backoff: { initialMs: number; maxMs: number }): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.initial_reconnect_backoff_ms': backoff.initialMs,
    'grpc.max_reconnect_backoff_ms': backoff.maxMs,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.ssl_target_name_override': CONTROLLER_SERVER_NAME,
  };
}
