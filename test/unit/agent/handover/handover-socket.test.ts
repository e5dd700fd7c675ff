/**
 * The handover socket end to end in one process (the client's recvmsg runs off the event loop):
 * listening sockets pass and keep listening, and every kind of bad peer input gets a clear
 * refusal or error while the old side serves on.
 */
import t from 'tap';
import net from 'node:net';
import { closeSync, existsSync, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadAgentConfig, type AgentConfig } from '../../../../src/agent/config.js';
import { HandoverServer, type TakeoverPhase } from '../../../../src/agent/handover/handover-server.js';
import { requestTakeover } from '../../../../src/agent/handover/handover-client.js';
import { ListenerSockets } from '../../../../src/agent/handover/listener-sockets.js';
import type { ListenerEntry } from '../../../../src/agent/handover/handover-protocol.js';
import { libc } from '../../../../src/ops/libc.js';

const logger = pino({ level: 'silent' });

function config(dir: string): AgentConfig {
  return loadAgentConfig(
    { node: 'n1', config: '/unused', bind: '127.0.0.1', outboundPort: 0, inboundPort: 0, tunnelPort: 0, readinessPort: 0, adminPort: 0, metricsPort: 0, handoverSocket: join(dir, 'h.sock') },
    {},
  );
}

interface Rig {
  readonly cfg: AgentConfig;
  readonly sockets: ListenerSockets;
  readonly server: HandoverServer;
  readonly phases: TakeoverPhase[];
}

async function rig(t: { teardown(fn: () => void): void }, opts: { uid?: number; listeners?: () => { entries: ListenerEntry[]; fds: number[] } } = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-handover-'));
  const cfg = config(dir);
  const sockets = ListenerSockets.open(cfg, 2, true);
  const phases: TakeoverPhase[] = [];
  const server = new HandoverServer({
    path: cfg.handoverSocket, node: 'n1', logger, listeners: opts.listeners ?? (() => sockets.entries()), onTakeover: (p) => phases.push(p),
    ...(opts.uid === undefined ? {} : { uid: opts.uid }),
  });
  await server.start();
  t.teardown(() => {
    server.close();
    sockets.close();
  });
  return { cfg, sockets, server, phases };
}

/** Sends raw bytes to the handover socket and returns everything the server answers before it closes. */
function raw(path: string, bytes: string, endAfter = true): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const s = net.connect(path, () => {
      s.write(bytes);
      if (endAfter) s.end();
    });
    s.on('data', (c: Buffer) => (got += c.toString()));
    s.on('close', () => resolve(got));
    s.on('error', () => undefined);
  });
}

function connectTo(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve();
    });
    s.on('error', reject);
  });
}

t.test('listening sockets pass over the socket and keep their queued connections', async (t) => {
  const r = await rig(t);
  const port = r.sockets.port('outbound');
  // A connection queued before the takeover (nobody accepts on the rig's sockets): it must survive.
  const queued = net.connect(port, '127.0.0.1');
  queued.on('error', () => undefined); // reset when the test's listener closes
  await new Promise((resolve) => queued.once('connect', resolve));
  const takeover = await requestTakeover(r.cfg.handoverSocket, 'n1');
  t.ok(takeover !== undefined, 'an agent answered');
  t.equal(takeover?.entries.length, r.sockets.entries().entries.length, 'every listener passed');
  t.same(r.phases, ['started']);
  const adopted = ListenerSockets.adopt(r.cfg, takeover?.entries ?? [], takeover?.fds ?? [], 3);
  t.teardown(() => adopted.close());
  t.equal(adopted.port('outbound'), port, 'same port');
  t.equal(adopted.setCount, 3, 'a third set opened beside the two passed');
  r.sockets.close(); // the old agent's copies go; the sockets live on in the new one
  // The kernel may have queued it on any set's socket (SO_REUSEPORT): accept on each.
  let onAccepted: (s: net.Socket) => void = () => undefined;
  const accepted = new Promise<net.Socket>((resolve) => (onAccepted = resolve));
  for (let set = 0; set < adopted.setCount; set++) {
    const server = net.createServer(onAccepted);
    server.listen({ fd: libc().dupCloexec(adopted.set(set).outbound[0] as number) });
    t.teardown(() => server.close());
  }
  const first = await accepted;
  first.on('error', () => undefined);
  t.equal(first.remotePort, queued.localPort, 'the connection queued on the old agent is accepted by the new one');
  first.destroy();
  queued.destroy();
  takeover?.confirm();
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.same(r.phases, ['started', 'serving']);
  t.equal(existsSync(r.cfg.handoverSocket), false, 'the old agent stopped listening at the takeover: its socket file is gone, free for the new agent');
  t.equal(await requestTakeover(r.cfg.handoverSocket, 'n1'), undefined, 'nobody answers there any more');
});

t.test('bad peer input: a clear refusal, and the old agent serves on', async (t) => {
  const r = await rig(t);
  t.match(await raw(r.cfg.handoverSocket, 'GET / HTTP/1.1\n'), /"type":"refused".*not JSON/);
  t.match(await raw(r.cfg.handoverSocket, '{"type":"takeover","version":1,"node":"n2","pid":7}\n'), /for node \\"n2\\"/);
  t.match(await raw(r.cfg.handoverSocket, '{"type":"takeover","version":9,"node":"n1","pid":7}\n'), /version 9 is not 1/);
  t.match(await raw(r.cfg.handoverSocket, 'x'.repeat(20_000), false), /longer than 16384 bytes/);
  t.same(r.phases, [], 'no takeover started');
  await connectTo(r.sockets.port('outbound')).then(() => t.pass('the listener still accepts'));
  const takeover = await requestTakeover(r.cfg.handoverSocket, 'n1');
  t.ok(takeover !== undefined, 'a good takeover still works afterwards');
  takeover?.abort();
});

t.test('a peer that sends nothing is refused after the request timeout', { timeout: 15_000 }, async (t) => {
  const r = await rig(t);
  const answer = await raw(r.cfg.handoverSocket, '', false);
  t.match(answer, /no takeover request within 5 s/);
});

t.test('another uid is refused', async (t) => {
  const r = await rig(t, { uid: 4242 });
  await t.rejects(requestTakeover(r.cfg.handoverSocket, 'n1'), { code: 'MESHLET_ERR_HANDOVER', message: /peer uid \d+ is not 4242/ });
  t.same(r.phases, []);
});

t.test('an aborted takeover leaves the old agent serving, ready for the next one; one at a time', async (t) => {
  const r = await rig(t);
  const first = await requestTakeover(r.cfg.handoverSocket, 'n1');
  t.equal(await requestTakeover(r.cfg.handoverSocket, 'n1'), undefined, 'during a takeover the old agent does not listen: a second new agent starts fresh');
  first?.abort();
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.same(r.phases, ['started', 'aborted']);
  t.equal(existsSync(r.cfg.handoverSocket), true, 'listening again');
  const second = await requestTakeover(r.cfg.handoverSocket, 'n1');
  t.ok(second !== undefined, 'the next takeover is answered');
  second?.abort();
});

t.test('no agent on the socket: a fresh start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-handover-'));
  t.equal(await requestTakeover(join(dir, 'none.sock'), 'n1'), undefined);
});

t.test('sockets that are not the listeners they claim to be are refused by the new agent', async (t) => {
  const file = openSync('/dev/null', 'r');
  t.teardown(() => closeSync(file));
  const r0 = await rig(t);
  const good = r0.sockets.entries();
  // The same entries, but a non-socket in place of the outbound listener.
  const bad = await rig(t, { listeners: () => ({ entries: good.entries, fds: good.fds.map((fd, i) => (good.entries[i]?.role === 'outbound' ? file : fd)) }) });
  const takeover = await requestTakeover(bad.cfg.handoverSocket, 'n1');
  t.throws(() => ListenerSockets.adopt(bad.cfg, takeover?.entries ?? [], takeover?.fds ?? [], 1), { code: 'MESHLET_ERR_HANDOVER', message: /outbound listener .*not a socket/ });
  takeover?.abort();
  // Entries that name another port than the socket is bound to.
  const lying = await rig(t, { listeners: () => ({ entries: good.entries.map((e) => (e.role === 'tunnel' ? { ...e, port: e.port === 65000 ? 65001 : 65000 } : e)), fds: good.fds }) });
  const t2 = await requestTakeover(lying.cfg.handoverSocket, 'n1');
  t.throws(() => ListenerSockets.adopt(lying.cfg, t2?.entries ?? [], t2?.fds ?? [], 1), { code: 'MESHLET_ERR_HANDOVER', message: /tunnel listener .*bound to another address/ });
  t2?.abort();
  // Fewer sockets than entries.
  const short = await rig(t, { listeners: () => ({ entries: good.entries, fds: good.fds.slice(1) }) });
  await t.rejects(requestTakeover(short.cfg.handoverSocket, 'n1'), { code: 'MESHLET_ERR_HANDOVER', message: /sockets passed for/ });
});
