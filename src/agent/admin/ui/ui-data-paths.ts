/**
 * The admin endpoints the web page reads, by the name its scripts use. One list: the page's
 * API module is generated from it (`script-api.ts`), and a test checks each path is an admin
 * route, so the page cannot ask for an endpoint the server does not have.
 */
export const UI_DATA_PATHS = Object.freeze({
  ready: '/ready',
  configDump: '/config_dump',
  workloads: '/workloads',
  certs: '/certs',
  connections: '/connections',
  iptables: '/iptables',
  tap: '/tap',
} as const);

/** A name of {@link UI_DATA_PATHS}. */
export type UiDataName = keyof typeof UI_DATA_PATHS;
