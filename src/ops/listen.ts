/**
 * Small pieces the agent and the controller both need around their HTTP listeners. Neither
 * may import the other, so they live here, in an area that imports nothing of meshlet's.
 */
import type { AddressInfo, ListenOptions, Server } from 'node:net';

/** A socket already bound and listening (an inherited or libc-made fd); the server then owns it. */
export interface InheritedFd {
  readonly fd: number;
}

/**
 * `server.listen(opts)` as a promise of the address actually bound (port 0 picks one): the one
 * listen helper of meshlet. `opts` may name a port and host or an inherited `fd` (reuseport
 * sockets); a bind error rejects instead of escaping as an `'error'` event.
 */
export function listen(server: Server, opts: ListenOptions | InheritedFd): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    };
    // Node takes `{ fd }` through its handle overload, which @types/node types apart.
    if ('fd' in opts) server.listen({ fd: opts.fd }, done);
    else server.listen(opts, done);
  });
}
