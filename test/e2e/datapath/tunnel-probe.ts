/**
 * Probes a peer agent's tunnel port from inside a lab namespace, the way a misbehaving or
 * hostile mesh member would. Prints one JSON object with what happened to each attempt.
 *
 *   node tunnel-probe.js <ca-dir> <agent-address> <tunnel-port> <identity> <server-identity> <target>...
 *
 * It holds a real mesh certificate for <identity> (signed by the lab's CA in <ca-dir>), asks
 * for <server-identity> and sends CONNECT for each <target> (`addr:port`); it also tries a
 * handshake without any client certificate.
 */
import { once } from 'node:events';
import http2 from 'node:http2';
import tls from 'node:tls';
import { pino } from 'pino';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { IdentityManager } from '../../../src/agent/identity/manager.js';
import { sniForIdentity } from '../../../src/agent/identity/sni.js';
import { TunnelPool } from '../../../src/agent/proxy/tunnel/pool.js';

const [caDir, agent, portText, identity, serverIdentity, ...targets] = process.argv.slice(2);
setTimeout(() => {
  console.log(JSON.stringify({ error: 'probe time limit' }));
  process.exit(3);
}, 20_000).unref();

const logger = pino({ level: 'silent' });
const port = Number(portText);
const ca = await CertificateAuthority.loadOrCreate({ dir: caDir as string, trustDomain: 'cluster.local', logger });
const ids = new IdentityManager({
  logger,
  signer: { sign: async (csr, id) => ({ chainPem: ca.sign(csr, { identity: id }).chainPem, trustBundlePem: ca.trustBundlePem }) },
});
const pool = new TunnelPool({ identities: ids, logger, tunnelPort: port });

const connects: Record<string, number | string> = {};
for (const target of targets) {
  const [address, p] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  try {
    const stream = await pool.open(identity as string, { nodeAddress: agent as string, identity: serverIdentity as string, address, port: p });
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader];
    connects[target] = headers[':status'] ?? 0;
    stream.destroy();
  } catch (err) {
    connects[target] = `error: ${(err as Error).message}`;
  }
}

const noCert = await new Promise<string>((resolve) => {
  const sock = tls.connect({ host: agent, port, servername: sniForIdentity(serverIdentity as string), ALPNProtocols: ['h2'], rejectUnauthorized: false });
  sock.on('secureConnect', () => {
    sock.once('data', () => resolve('accepted'));
    setTimeout(() => resolve('accepted'), 1500).unref();
  });
  sock.on('error', (err) => resolve(`refused: ${err.message}`));
  sock.on('close', () => resolve('refused: closed'));
});

console.log(JSON.stringify({ connects, noCert }));
pool.destroy();
ids.close();
process.exit(0);
