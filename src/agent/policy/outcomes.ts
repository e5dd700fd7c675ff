/**
 * What the decisions and the data path say about a connection: which way it goes, how it was
 * carried, and how it ended (the access log's outcome flag). Plain types, so the pure
 * decisions (`planOutbound`, `decideInbound`) can name them without importing the proxy.
 */

/** Which way a connection goes relative to the workload this agent serves. */
export type Direction = 'outbound' | 'inbound';

/** How the agent carried it (`http`: served at L7, each request sent on its own). */
export type ConnectionMode = 'tunnel' | 'local' | 'plaintext' | 'passthrough' | 'http';

/** How it ended; the access log's outcome flag. */
export type ConnectionOutcome =
  | 'ok'
  | 'reset'
  | 'denied'
  | 'connect_failed'
  | 'no_route'
  | 'tunnel_failed'
  | 'drained';
