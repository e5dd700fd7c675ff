/**
 * One mutual-TLS handshake, run inside a lab namespace by the harness to learn what a proxy
 * negotiates (so the HAProxy pair can be pinned to exactly what meshlet's tunnel uses, and
 * checked afterwards):
 *
 *   node tls-probe.js <host> <port> <cert> <key> <ca> [servername] [alpn]
 *
 * Prints one JSON line `{ok, protocol, cipher, group}` (or `{ok: false, error}`) and exits.
 * The server's chain is verified against the CA; its name is not (mesh certificates carry a
 * SPIFFE URI, no DNS name). Bounded: gives up after 10 s.
 *
 * @module
 */

import { readFileSync } from 'node:fs';
import tls from 'node:tls';

const TIME_LIMIT_MS = 10_000;

function print(value: Record<string, unknown>, code: number): never {
  process.stdout.write(`${JSON.stringify(value)}\n`);
  process.exit(code);
}

function main(): void {
  const [host, port, cert, key, ca, servername, alpn] = process.argv.slice(2);
  if (host === undefined || port === undefined || cert === undefined || key === undefined || ca === undefined) {
    print({ ok: false, error: 'usage: tls-probe <host> <port> <cert> <key> <ca> [servername] [alpn]' }, 64);
  }
  setTimeout(() => print({ ok: false, error: `no handshake within ${TIME_LIMIT_MS} ms` }, 1), TIME_LIMIT_MS).unref();
  const socket = tls.connect({
    host,
    port: Number(port),
    cert: readFileSync(cert),
    key: readFileSync(key),
    ca: readFileSync(ca),
    ...(servername === undefined || servername === '' ? {} : { servername }),
    ...(alpn === undefined ? {} : { ALPNProtocols: [alpn] }),
    rejectUnauthorized: true,
    checkServerIdentity: () => undefined,
  });
  socket.once('secureConnect', () => {
    const cipher = socket.getCipher();
    const ephemeral = socket.getEphemeralKeyInfo();
    const group = ephemeral !== null && 'name' in ephemeral && typeof ephemeral.name === 'string' ? ephemeral.name : 'unknown';
    const result = { ok: true, protocol: socket.getProtocol() ?? 'unknown', cipher: cipher.standardName, group };
    socket.destroy();
    print(result, 0);
  });
  socket.once('error', (err: Error) => print({ ok: false, error: err.message }, 1));
}

main();
