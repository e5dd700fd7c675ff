/**
 * The per-turn budget on the data path, in-process on loopback: two HTTP/2 sessions (two
 * workloads) carry CONNECT-like streams that the server side splices into sockets, as the
 * tunnel server does. One session floods a sink with bulk bytes, the other does small
 * request-response round trips with an echo server. The small messages must keep completing
 * while the flood runs, the flood must arrive whole, and the budget must have acted.
 * Functional, not timed: bounds are counts, waits are events.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type ServerHttp2Stream } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { splice } from '../../../src/agent/proxy/splice.js';
import { TurnBudget } from '../../../src/agent/proxy/turn-budget.js';

/** Small, so the flood crosses it on its first frames of each turn. */
const BUDGET_BYTES = 16 * 1024;
/** Long, so a round trip delayed on a loaded machine never makes the quiet workload inactive. */
const ACTIVE_MS = 60_000;
const BULK_BYTES = 24 * 1024 * 1024;
const CHUNK = Buffer.alloc(256 * 1024, 0x5a);
const MESSAGE = Buffer.alloc(512, 0x71);
/** Round trips the quiet workload completes after the flood has started. */
const MIN_ROUND_TRIPS_DURING_FLOOD = 5;

/** Teardown resets connections; those errors are expected. */
function ignore(): void {}

async function listen(server: net.Server | http2.Http2Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

t.test('small messages of one workload keep completing while another floods; the flood arrives whole', async (t) => {
  const budget = new TurnBudget(BUDGET_BYTES, ACTIVE_MS);
  const sinkDigest = createHash('sha256');
  let sinkBytes = 0;
  let sinkEnded!: () => void;
  const sinkDone = new Promise<void>((r) => (sinkEnded = r));
  const sink = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', ignore);
    s.on('data', (c: Buffer) => {
      sinkDigest.update(c);
      sinkBytes += c.length;
    });
    s.on('end', () => {
      s.end();
      sinkEnded();
    });
  });
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', ignore);
    s.pipe(s);
  });
  const ports = { sink: await listen(sink), echo: await listen(echo) };
  const front = http2.createServer();
  front.on('stream', (stream: ServerHttp2Stream, headers) => {
    const port = headers[':authority'] === 'sink' ? ports.sink : ports.echo;
    const upstream = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    upstream.once('connect', () => {
      stream.respond({ ':status': 200 });
      splice(stream, upstream, () => undefined, { turnBudget: budget });
    });
  });
  const frontPort = await listen(front);
  const sessions: ClientHttp2Session[] = [];
  t.teardown(() => {
    for (const s of sessions) s.destroy();
    front.close();
    sink.close();
    echo.close();
  });
  const open = (authority: string): ClientHttp2Stream => {
    const session = http2.connect(`http://127.0.0.1:${String(frontPort)}`);
    session.on('error', ignore);
    sessions.push(session);
    return session.request({ ':method': 'CONNECT', ':authority': authority });
  };

  const quiet = open('echo');
  await once(quiet, 'response');
  let floodDone = false;
  let duringFlood = 0;
  const bulk = open('sink');
  await once(bulk, 'response');
  const expected = createHash('sha256');
  const flood = (async () => {
    for (let sent = 0; sent < BULK_BYTES; sent += CHUNK.length) {
      expected.update(CHUNK);
      if (!bulk.write(CHUNK)) await once(bulk, 'drain');
    }
    bulk.end();
    await sinkDone;
    floodDone = true;
  })();
  // The echo's bytes, counted by one listener; each round trip waits for its whole answer.
  let echoedBytes = 0;
  let wanted = 0;
  let answered: (() => void) | undefined;
  quiet.on('data', (c: Buffer) => {
    echoedBytes += c.length;
    if (echoedBytes >= wanted && answered !== undefined) answered();
  });
  // Round trips until the flood is delivered, and at least a few beside it.
  let roundTrips = 0;
  while (!floodDone || duringFlood < MIN_ROUND_TRIPS_DURING_FLOOD) {
    wanted += MESSAGE.length;
    const back = new Promise<void>((r) => (answered = r));
    quiet.write(MESSAGE);
    await back;
    roundTrips += 1;
    if (!floodDone) duringFlood += 1;
    else if (duringFlood < MIN_ROUND_TRIPS_DURING_FLOOD) break;
  }
  await flood;
  t.equal(duringFlood >= MIN_ROUND_TRIPS_DURING_FLOOD, true, `the quiet workload completed round trips during the flood (${String(duringFlood)})`);
  t.equal(echoedBytes, roundTrips * MESSAGE.length, 'every message came back whole');
  t.equal(sinkBytes, BULK_BYTES, 'the flood arrived: every byte');
  t.equal(sinkDigest.digest('hex'), expected.digest('hex'), 'the flood arrived: the same bytes');
  t.equal(budget.pauses > 0, true, `the budget paused the flood (${String(budget.pauses)} pauses)`);
  quiet.end();
});
