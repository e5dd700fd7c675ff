/**
 * Small pieces the agent and the controller both need around their HTTP listeners. Neither
 * may import the other, so they live here, in an area that imports nothing of meshlet's.
 */
import type { AddressInfo, ListenOptions, Server } from 'node:net';

/**
 * `server.listen(opts)` as a promise of the address actually bound (port 0 picks one): the one
 * listen helper of meshlet. `opts` may name a port and host or an inherited `fd` (reuseport
 * sockets); a bind error rejects instead of escaping as an `'error'` event.
 */
export function listen(server: Server, opts: ListenOptions): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
