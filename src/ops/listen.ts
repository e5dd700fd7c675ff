/**
 * Small pieces the agent and the controller both need around their HTTP listeners. Neither
 * may import the other, so they live here, in an area that imports nothing of meshlet's.
 */
import type { AddressInfo, ListenOptions, Server } from 'node:net';

/** `server.listen(opts)` as a promise of the address actually bound (port 0 picks one). */
export function listen(server: Server, opts: ListenOptions): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
