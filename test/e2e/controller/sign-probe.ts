/**
 * Asks the controller to sign a CSR, as the agent of <node> would, and prints the outcome as
 * JSON: {ok, code?, message?}. Run inside a lab node namespace.
 *   node sign-probe.js <controller host:port> <ca file> <token file> <node> <identity>
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { ControllerClient } from '../../../src/agent/control/client.js';
import { createCsr } from '../../../src/mesh/x509.js';

const [address, caFile, tokenFile, node, identity] = process.argv.slice(2) as [string, string, string, string, string];
setTimeout(() => {
  console.log(JSON.stringify({ ok: false, code: 'TIMEOUT' }));
  process.exit(3);
}, 15_000).unref();

const client = new ControllerClient({
  address,
  caPem: readFileSync(caFile, 'utf8'),
  node,
  credentials: async () => readFileSync(tokenFile, 'utf8').trim(),
  trustDomain: 'cluster.local',
  logger: pino({ level: 'silent' }),
  onSnapshot: async () => undefined,
});
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
try {
  const signed = await client.sign(createCsr({ identity, privateKeyPem: privateKey }), identity);
  console.log(JSON.stringify({ ok: true, chain: signed.chainPem.length }));
} catch (err) {
  const e = err as { code?: unknown; message: string; cause?: { code?: unknown } };
  console.log(JSON.stringify({ ok: false, code: String(e.code ?? e.cause?.code ?? ''), message: e.message }));
}
await client.close();
process.exit(0);
