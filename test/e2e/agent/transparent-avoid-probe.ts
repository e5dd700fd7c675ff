/**
 * Run by transparent-connect.test inside a netns whose ephemeral range is two ports: connects
 * `rounds` times from 127.0.0.90 avoiding the range's first port and prints the local ports used.
 */
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { transparentConnect } from '../../../src/agent/proxy/transparent-connect.js';

const [avoid, rounds] = process.argv.slice(2).map(Number) as [number, number];
const server = net.createServer((s) => s.destroy());
// A fixed port outside the netns's two-port ephemeral range, which must stay free for the client side.
server.listen(39000, '127.0.0.1');
await once(server, 'listening');
const ports: number[] = [];
for (let i = 0; i < rounds; i++) {
  const socket = transparentConnect({ source: '127.0.0.90', host: '127.0.0.1', port: (server.address() as AddressInfo).port, avoidPort: avoid });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  ports.push(socket.localPort ?? 0);
  socket.resetAndDestroy();
  await once(socket, 'close');
}
server.close();
process.stdout.write(`${JSON.stringify(ports)}\n`);
