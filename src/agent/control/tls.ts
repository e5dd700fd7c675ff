/**
 * TLS towards the controller: its certificate must chain to the configured CA bundle and carry
 * the controller's SPIFFE ID. The host name is not checked: agents dial the controller by
 * address or Service name, and its certificate names an identity, not a host.
 */
import type { PeerCertificate } from 'node:tls';
import { credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { MeshletError } from '../../mesh/errors.js';
import { spiffeIdsFromSubjectAltName } from '../../mesh/identity.js';
import { controllerIdentity } from '../../mesh/snapshot-wire/encode.js';

/**
 * TLS server name the agent sends. A fixed DNS name rather than the dialled address: SNI may not
 * be an IP address (RFC 6066), and the controller presents one certificate whatever the name.
 */
export const CONTROLLER_SERVER_NAME = 'meshlet-controller';

/** extKeyUsage OIDs (RFC 5280, 4.2.1.12). */
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * `checkServerIdentity` for the controller: undefined when the certificate carries the
 * controller's SPIFFE ID as its only SPIFFE ID AND was issued as a serving certificate (extKeyUsage
 * serverAuth without clientAuth, the profile of `ca/server-leaf.ts`), else the error that fails
 * the handshake. The second test holds even if a workload certificate (serverAuth and clientAuth,
 * `ca/leaf-certificate.ts`) were ever issued for the controller's identity: a node holding one
 * still cannot pose as the controller.
 */
export function checkControllerIdentity(trustDomain: string): (host: string, cert: PeerCertificate) => Error | undefined {
  const wanted = controllerIdentity(trustDomain);
  return (_host, cert) => {
    const ids = spiffeIdsFromSubjectAltName(cert.subjectaltname ?? '');
    if (ids.length !== 1 || ids[0] !== wanted) {
      return new MeshletError(
        'MESHLET_ERR_CONTROLLER',
        `the controller's certificate is for ${ids.length === 0 ? 'no SPIFFE ID' : ids.join(', ')}, not ${wanted}`,
      );
    }
    const usages: readonly string[] = Array.isArray(cert.ext_key_usage) ? cert.ext_key_usage : [];
    if (!usages.includes(SERVER_AUTH) || usages.includes(CLIENT_AUTH)) {
      return new MeshletError(
        'MESHLET_ERR_CONTROLLER',
        `the certificate presented for ${wanted} is not a controller serving certificate (extKeyUsage ${usages.length === 0 ? 'none' : usages.join(', ')}; serverAuth alone expected)`,
      );
    }
    return undefined;
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
