/**
 * Run without CAP_NET_ADMIN/CAP_NET_RAW by transparent-connect.test: tries a transparent
 * connect and prints what it threw, as JSON.
 */
import { transparentConnect, TransparentSocketError } from '../../../src/agent/proxy/transparent-connect.js';

try {
  transparentConnect({ source: '127.0.0.80', host: '127.0.0.1', port: 9 }).destroy();
  process.stdout.write('{"thrown":false}\n');
} catch (err) {
  if (!(err instanceof TransparentSocketError)) throw err;
  process.stdout.write(`${JSON.stringify({ code: err.code, errno: err.errnoName, notPermitted: err.notPermitted, syscall: err.syscall })}\n`);
}
