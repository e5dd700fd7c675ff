/**
 * grpc-js options of the agent API server, with the reason for each. The values come from the
 * server's {@link AgentApiLimits} (see `connection-guard.ts` for the defaults and their reasons).
 */
import type { ServerOptions } from '@grpc/grpc-js';
import type { AgentApiLimits } from './connection-guard.js';

/**
 * - keepalive: PING every agent connection every 30 s and drop it when no answer comes within
 *   10 s, so a node that vanished without a FIN (power loss, partition) is noticed in under a
 *   minute and its stream is released; agents ping too (see the agent's controller client).
 * - client pings are not policed: grpc-js servers do not implement ping strikes (Node's HTTP/2
 *   answers PINGs itself); the connection caps bound who can send them.
 * - streams, idle, age and grace: see {@link AgentApiLimits}.
 * - max receive: bounds what a misbehaving peer can make the controller buffer. Sends are
 *   unbounded (the default): snapshots grow with the cluster.
 */
export function serverChannelOptions(limits: AgentApiLimits): ServerOptions {
  return Object.freeze({
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
    'grpc.max_connection_idle_ms': limits.maxConnectionIdleMs,
    'grpc.max_connection_age_ms': limits.maxConnectionAgeMs,
    'grpc.max_connection_age_grace_ms': limits.maxConnectionAgeGraceMs,
    'grpc.max_receive_message_length': limits.maxReceiveMessageBytes,
  });
}
