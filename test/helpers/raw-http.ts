/**
 * One HTTP/1.1 request on a fresh raw connection, for attack tests: no client pool, retry or
 * keep-alive hides what the server did with the connection.
 */
import { once } from 'node:events';
import net from 'node:net';

/** `GET path` with `Connection: close`: the status, or 0 when the server closed it unanswered. */
export async function rawGet(port: number, path: string, headers: Readonly<Record<string, string>> = {}): Promise<number> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => undefined); // a reset is one of the outcomes under test
  let answer = '';
  s.on('data', (c: Buffer) => (answer += c.toString('latin1')));
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${extra}\r\n`);
  await once(s, 'close');
  return Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1] ?? 0);
}
