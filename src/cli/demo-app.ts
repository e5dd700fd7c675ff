/**
 * The demo's workload: a tiny TCP app run inside lab pods by `meshlet demo`.
 *   serve <port> <name>              answer each line with "<name> got: <line>"
 *   call <host> <port> <message>     send one line, print the answer (exit 1 on failure)
 * Both stop by themselves (the server when its parent kills it, the client within 5 s).
 */
import net from 'node:net';

const [mode, a, b, c] = process.argv.slice(2);

if (mode === 'serve') {
  const name = b ?? 'app';
  net
    .createServer((sock) => {
      sock.on('error', () => undefined);
      let buf = '';
      sock.on('data', (chunk: Buffer) => {
        buf += chunk.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          sock.write(`${name} got: ${buf.slice(0, nl)}\n`);
          buf = buf.slice(nl + 1);
        }
      });
    })
    .listen(Number(a), '0.0.0.0', () => console.log(`listening ${a}`));
} else if (mode === 'call') {
  const sock = net.connect({ host: a as string, port: Number(b) });
  const timer = setTimeout(() => fail('no answer within 5 s'), 5000);
  function fail(why: string): void {
    console.log(`FAILED: ${why}`);
    process.exit(1);
  }
  sock.on('connect', () => sock.write(`${c ?? 'hello'}\n`));
  sock.on('data', (d: Buffer) => {
    clearTimeout(timer);
    console.log(d.toString().trim());
    sock.destroy();
    process.exit(0);
  });
  sock.on('close', () => fail('connection closed without an answer'));
  sock.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
} else {
  console.error('usage: demo-app serve <port> <name> | call <host> <port> <message>');
  process.exit(64);
}
