/**
 * The upstream dialer on loopback (root: IP_TRANSPARENT): a vouched-for client address reaches
 * the workload; a peer claiming another identity's workload is refused, logged with its stable
 * reason and counted, and the workload sees the agent's address; a process without the
 * capability dials from its own address and counts why. In the namespace suite: it needs root.
 */
import t from 'tap';
import { requireNamespaces } from '../helpers/require-root.js';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { UpstreamDialer, type SourceOutcome } from '../../../src/agent/proxy/upstream-dial.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';

function workload(name: string, address: string, nodeAddress: string): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node: name === 'server' ? 'node1' : 'node2',
    nodeAddress, serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: {}, tlsMode: 'PERMISSIVE', namedPorts: [],
  };
}
const server = workload('server', '127.0.0.1', '198.18.0.10');
const client = workload('client', '127.0.0.21', '198.18.0.11');
const other = workload('other', '127.0.0.22', '198.18.0.11');
const snapshot: NodeSnapshot = { version: 'v1', node: 'node1', nodeAddress: '198.18.0.10', trustDomain: 'cluster.local', localWorkloads: [server], workloads: [server, client, other], services: [] };
const index = new WorkloadIndex(snapshot, { allowLoopback: true });

function capture(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } });
  return { logger: pino({ level: 'info' }, sink), lines };
}

async function peerSeen(t: { teardown(fn: () => void): void }, dial: (port: number) => net.Socket): Promise<string> {
  const server = net.createServer((s) => s.end(s.remoteAddress ?? ''));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => void server.close());
  const socket = dial((server.address() as AddressInfo).port);
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString()));
  await once(socket, 'end');
  socket.destroy();
  return text;
}

if (requireNamespaces(t)) {
  t.test('a vouched-for client address reaches the workload', async (t) => {
    const outcomes: SourceOutcome[] = [];
    const dialer = new UpstreamDialer({ logger: capture().logger, mode: 'on', onOutcome: (o) => outcomes.push(o) });
    const seen = await peerSeen(t, (port) => dialer.dial(index, { kind: 'mtls', peerIdentity: client.identity, peerAddress: '198.18.0.11', claimed: '127.0.0.21' }, '127.0.0.1', port).socket);
    t.equal(seen, '127.0.0.21');
    t.same(outcomes, ['preserved']);
  });

  t.test('attack: a peer claims another identity\'s workload address', async (t) => {
    const outcomes: SourceOutcome[] = [];
    const { logger, lines } = capture();
    const dialer = new UpstreamDialer({ logger, mode: 'on', onOutcome: (o) => outcomes.push(o) });
    const seen = await peerSeen(t, (port) => dialer.dial(index, { kind: 'mtls', peerIdentity: client.identity, peerAddress: '198.18.0.11', claimed: '127.0.0.22' }, '127.0.0.1', port).socket);
    t.equal(seen, '127.0.0.1', "the workload sees the agent's address");
    t.same(outcomes, ['identity_mismatch']);
    t.equal(lines.length, 1);
    t.equal(lines[0]?.['reason'], 'identity_mismatch');
    t.equal(lines[0]?.['claimed'], '127.0.0.22');
  });

  t.test('without the capability: the agent address, counted as not_permitted, no log per connection', async (t) => {
    const outcomes: SourceOutcome[] = [];
    const { logger, lines } = capture();
    const dialer = new UpstreamDialer({ logger, mode: 'not_permitted', onOutcome: (o) => outcomes.push(o) });
    t.equal(dialer.preserving, false);
    const seen = await peerSeen(t, (port) => dialer.dial(index, { kind: 'local', address: '127.0.0.21', port: 40000 }, '127.0.0.1', port).socket);
    t.equal(seen, '127.0.0.1');
    t.same(outcomes, ['not_permitted']);
    t.equal(lines.length, 0);
  });
}
