/**
 * Runs inside a test namespace: listens on a port, connects to an address that a nat REDIRECT
 * rule in the namespace sends to that port, and prints what originalDst() read.
 *   node origdst-probe.js <listen-host> <listen-port> <dial-host> <dial-port>
 */
import net from 'node:net';
import { originalDst } from '../../../src/agent/proxy/original-dst.js';

const [listenHost, listenPort, dialHost, dialPort] = process.argv.slice(2);
setTimeout(() => process.exit(3), 10_000).unref();

const server = net.createServer((sock) => {
  try {
    const dst = originalDst(sock);
    console.log(JSON.stringify({ ok: true, dst, local: { address: sock.localAddress, port: sock.localPort } }));
  } catch (err) {
    console.log(JSON.stringify({ ok: false, error: (err as Error).message, code: (err as { code?: string }).code }));
  }
  sock.destroy();
  server.close();
  process.exit(0);
});
server.listen(Number(listenPort), listenHost, () => {
  const c = net.connect({ host: dialHost as string, port: Number(dialPort) });
  c.on('error', (err) => {
    console.log(JSON.stringify({ ok: false, error: `dial: ${err.message}` }));
    process.exit(1);
  });
});
