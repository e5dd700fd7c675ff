/**
 * A peer for the source-address lab test, run inside lab pods:
 *
 *   server <port>          for each connection, answer the address it came from, then FIN.
 *   ask <host> <port>      connect, read the answer to EOF; print JSON {ok, seen, error}.
 *
 * Bounded: a server exits after ten minutes, a client after thirty seconds.
 */
import net from 'node:net';

const [mode, ...args] = process.argv.slice(2);
setTimeout(() => {
  console.log(JSON.stringify({ ok: false, error: 'peer time limit reached' }));
  process.exit(3);
}, mode === 'server' ? 600_000 : 30_000).unref();

if (mode === 'server') {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.end(s.remoteAddress ?? '');
  });
  server.listen(Number(args[0]), '0.0.0.0', () => console.log('listening'));
} else if (mode === 'ask') {
  const socket = net.connect(Number(args[1]), args[0] ?? '');
  let seen = '';
  socket.on('data', (d: Buffer) => (seen += d.toString()));
  socket.on('end', () => {
    console.log(JSON.stringify({ ok: true, seen }));
    process.exit(0);
  });
  socket.on('error', (err) => {
    console.log(JSON.stringify({ ok: false, error: err.message }));
    process.exit(1);
  });
} else {
  console.error(`unknown mode ${String(mode)}`);
  process.exit(2);
}
