/**
 * grpc-js options of the agent API server, with the reason for each.
 */
import type { ServerOptions } from '@grpc/grpc-js';

/**
 * - keepalive: PING every agent connection every 30 s and drop it when no answer comes within
 *   10 s, so a node that vanished without a FIN (power loss, partition) is noticed in under a
 *   minute and its stream is released; agents ping too (see the agent's controller client).
 * - max receive: agents send Hellos, ACKs, NACK reasons (trimmed to 2,000 characters) and CSRs
 *   (about 1 KiB): 256 KiB is far above all of them and bounds what a misbehaving peer can make
 *   the controller buffer. Sends are unbounded (the default): snapshots grow with the cluster.
 */
export const SERVER_CHANNEL_OPTIONS: ServerOptions = Object.freeze({
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.max_receive_message_length': 256 * 1024,
});
