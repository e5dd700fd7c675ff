/**
 * Tunnel session set-up cost, in-process on 127.0.0.1: opens N tunnel sessions one after the
 * other (each: TLS 1.3 handshake with client certificates + HTTP/2 + one CONNECT round trip,
 * then close), with TLS session resumption on (the default) or off (`--tickets 0`), and prints
 * sessions per second, CPU per session and how many resumed.
 *
 *   node dist/bench/tunnel-handshakes.js [--sessions 300] [--tickets 0]
 *
 * Both ends run in this one process, so CPU per session is the client's plus the server's.
 */
import { once } from 'node:events';
import { TunnelPool } from '../src/agent/proxy/tunnel/pool.js';
import { CLIENT, flags, startTunnelRig } from './tunnel-rig.js';

const args = flags(process.argv);
const SESSIONS = Math.min(10_000, Math.max(1, Number(args.get('sessions') ?? 300)));
const TICKETS = Number(args.get('tickets') ?? 4096);

const rig = await startTunnelRig((s) => {
  s.resume();
  s.on('end', () => s.end());
});
let resumed = 0;
let handshakes = 0;
const pool = new TunnelPool({
  identities: rig.clientIds,
  logger: rig.logger,
  tunnelPort: rig.tunnelPort,
  maxTickets: TICKETS,
  onHandshake: (r) => void ((resumed += r ? 1 : 0), (handshakes += 1)),
});
const target = rig.target;

const cpu0 = process.cpuUsage();
const started = performance.now();
for (let i = 0; i < SESSIONS; i += 1) {
  const stream = await pool.open(CLIENT, target);
  await once(stream, 'response');
  // Taken now: a closed stream no longer knows its session.
  const session = stream.session;
  stream.end();
  stream.resume();
  await once(stream, 'close');
  session?.close();
  if (session !== undefined && !session.closed) await once(session, 'close');
}
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
console.log(
  JSON.stringify({
    sessions: SESSIONS,
    tickets: TICKETS > 0,
    handshakes,
    resumed,
    perSecond: Math.round(SESSIONS / seconds),
    cpuMsPerSession: Number(((cpu.user + cpu.system) / 1000 / SESSIONS).toFixed(3)),
  }),
);
process.exit(0);
