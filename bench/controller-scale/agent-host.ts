/**
 * An agent host of the controller-scale bench: a child process holding many simulated agents,
 * each a real `ControllerClient` (the agent's own stream, decode, validation and delta apply;
 * only the tables behind `onSnapshot` are left out), each dialling the controller from its own
 * loopback address through a {@link SourceForwarder}. It reports every applied snapshot to the
 * parent over IPC and exits when the parent goes away, is told to close, or its bound passes.
 *
 * @module
 */

import { pino } from 'pino';
import { ControllerClient } from '../../src/agent/control/client.js';
import type { FromHost, ToHost } from './host-messages.js';
import { SourceForwarder } from './source-forwarder.js';

const clients: ControllerClient[] = [];
const forwarders: SourceForwarder[] = [];

function send(message: FromHost): void {
  process.send?.(message);
}

async function start(message: Extract<ToHost, { kind: 'start' }>): Promise<void> {
  setTimeout(() => process.exit(3), message.limitMs).unref();
  const logger = pino({ level: 'silent' });
  for (const agent of message.agents) {
    const forwarder = new SourceForwarder({ host: '127.0.0.1', port: message.port }, agent.source);
    forwarders.push(forwarder);
    const port = await forwarder.start();
    const client = new ControllerClient({
      address: `127.0.0.1:${port}`,
      caPem: message.caPem,
      node: agent.node,
      credentials: async () => agent.token,
      trustDomain: 'cluster.local',
      logger,
      deltas: message.deltas,
      onSnapshot: async (s, meta) => {
        send({ kind: 'ack', index: agent.index, version: s.version, at: Date.now(), publishedAt: meta.publishedAt.getTime(), clusterBytes: meta.clusterBytes, delta: meta.delta });
      },
    });
    clients.push(client);
  }
  send({ kind: 'ready' });
  for (const c of clients) c.start();
}

async function close(): Promise<void> {
  await Promise.all(clients.map((c) => c.close()));
  for (const f of forwarders) f.close();
  send({ kind: 'closed' });
  process.exit(0);
}

process.on('disconnect', () => process.exit(0));
process.on('message', (message: ToHost) => {
  if (message.kind === 'start') {
    start(message).catch((err: Error) => {
      console.error(`agent host: ${err.message}`);
      process.exit(1);
    });
  } else if (message.kind === 'usage') {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    send({ kind: 'usage', cpuMs: (cpu.user + cpu.system) / 1000, rssMb: mem.rss / 2 ** 20, heapUsedMb: mem.heapUsed / 2 ** 20 });
  } else {
    void close();
  }
});
