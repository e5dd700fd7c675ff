/**
 * undici's Pool by its own module: `import { Pool } from 'undici'` loads the whole package
 * (fetch, WebSocket, caches, mocks) for the one class the data path uses, about 8.6 MiB more
 * RSS in every agent process (`node -e "require('undici')"` 58.9 MiB against 50.3 for
 * `undici/lib/dispatcher/pool.js`, Node 20). The package has no `exports` map, so the path is
 * reachable; its type is the package's own.
 */
declare module 'undici/lib/dispatcher/pool.js' {
  import type { Pool } from 'undici';
  const PoolClass: typeof Pool;
  export default PoolClass;
}
