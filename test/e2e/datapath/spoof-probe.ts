/**
 * A mesh member that lies about its client's address: from inside a lab node, with a real mesh
 * certificate for <identity>, sends a tunnel CONNECT to <target> claiming each <claimed>
 * address in `Forwarded: for=`, and reads what the workload answers (the whoami server answers
 * the address it saw). Prints one JSON object {claimed address: answer}.
 *
 *   node spoof-probe.js <ca-dir> <agent-address> <tunnel-port> <identity> <server-identity> <target> <claimed>...
 */
import { once } from 'node:events';
import { pino } from 'pino';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { IdentityManager } from '../../../src/agent/identity/manager.js';
import { TunnelPool } from '../../../src/agent/proxy/tunnel/pool.js';

const [caDir, agent, portText, identity, serverIdentity, target, ...claims] = process.argv.slice(2) as string[];
setTimeout(() => {
  console.log(JSON.stringify({ error: 'probe time limit' }));
  process.exit(3);
}, 20_000).unref();

const logger = pino({ level: 'silent' });
const ca = await CertificateAuthority.loadOrCreate({ dir: caDir as string, trustDomain: 'cluster.local', logger });
const ids = new IdentityManager({
  logger,
  signer: { sign: async (csr, id) => ({ chainPem: ca.sign(csr, { identity: id }).chainPem, trustBundlePem: ca.trustBundlePem }) },
});
const pool = new TunnelPool({ identities: ids, logger, tunnelPort: Number(portText) });
const at = (target as string).lastIndexOf(':');
const dst = { nodeAddress: agent as string, identity: serverIdentity as string, address: (target as string).slice(0, at), port: Number((target as string).slice(at + 1)) };

const seen: Record<string, string> = {};
for (const claimed of claims) {
  try {
    const stream = await pool.open(identity as string, dst, { forwarded: `for="${claimed}:4321"` });
    let text = '';
    stream.on('data', (d: Buffer) => (text += d.toString()));
    await once(stream, 'end');
    seen[claimed] = text;
    stream.destroy();
  } catch (err) {
    seen[claimed] = `error: ${(err as Error).message}`;
  }
}
console.log(JSON.stringify(seen));
pool.destroy();
ids.close();
process.exit(0);
