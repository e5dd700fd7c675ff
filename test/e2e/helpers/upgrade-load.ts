/**
 * Load for the agent upgrade test, run inside a pod against an echo server:
 *
 * - `--mode short`: opens connections one after another (connect, one line, its echo, close)
 *   until `--max` connections or `--duration-ms`, whichever comes first;
 * - `--mode long`: opens `--connections` connections at once and sends a line on each every
 *   `--interval-ms`, each awaiting its echo, for `--duration-ms` or until SIGUSR2 (whichever
 *   comes first), then closes them cleanly.
 *
 * Prints one JSON line: opened, ok, refused (ECONNREFUSED), reset (ECONNRESET, EPIPE), failed
 * (anything else: a timeout, a wrong or missing echo, an early close), requests (long mode),
 * the first few errors, and `starts`: connections opened per 100 ms slot (epoch ms / 100).
 *
 * @module
 */
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string', default: '80' },
    mode: { type: 'string', default: 'short' },
    max: { type: 'string', default: '20000' },
    'duration-ms': { type: 'string', default: '10000' },
    connections: { type: 'string', default: '4' },
    'interval-ms': { type: 'string', default: '50' },
  },
});
const host = values.host ?? '';
const port = Number(values.port);
const durationMs = Number(values['duration-ms']);
/** A connection or an answer that takes longer than this has failed. */
const STEP_TIMEOUT_MS = 10_000;

const totals = { opened: 0, ok: 0, refused: 0, reset: 0, failed: 0, requests: 0 };
const errors: string[] = [];
const starts: Record<string, number> = {};

function outcome(err: Error & { code?: string }): void {
  const code = err.code ?? err.message;
  if (code === 'ECONNREFUSED') totals.refused += 1;
  else if (code === 'ECONNRESET' || code === 'EPIPE') totals.reset += 1;
  else totals.failed += 1;
  if (errors.length < 10) errors.push(`${new Date().toISOString()} ${code}`);
}

/** One line's round trip on an open socket: resolves when its echo is back. */
function roundTrip(socket: Socket, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => done(new Error('ETIMEOUT_ECHO')), STEP_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      got += chunk.toString('utf8');
      if (got.length < line.length) return;
      done(got === line ? undefined : new Error('EBADECHO'));
    };
    const onError = (err: Error): void => done(err);
    const onClose = (): void => done(new Error('ECLOSED_EARLY'));
    function done(err?: Error): void {
      clearTimeout(timer);
      socket.off('data', onData).off('error', onError).off('close', onClose);
      if (err === undefined) resolve();
      else reject(err);
    }
    socket.on('data', onData).on('error', onError).on('close', onClose);
    socket.write(line);
  });
}

function open(): Promise<Socket> {
  totals.opened += 1;
  const slot = String(Math.floor(Date.now() / 100));
  starts[slot] = (starts[slot] ?? 0) + 1;
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('ETIMEOUT_CONNECT'));
    }, STEP_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(socket);
    });
    const fail = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    socket.once('error', fail);
  });
}

/** Waits for the server's close after ours (the echo server closes when the client does). */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('ETIMEOUT_CLOSE')), STEP_TIMEOUT_MS);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.end();
  });
}

async function short(): Promise<void> {
  const max = Number(values.max);
  const end = Date.now() + durationMs;
  for (let i = 0; i < max && Date.now() < end; i++) {
    let socket: Socket | undefined;
    try {
      socket = await open();
      await roundTrip(socket, `short-${i}\n`);
      await closed(socket);
      totals.ok += 1;
    } catch (err) {
      socket?.destroy();
      outcome(err as Error);
    }
  }
}

/** SIGUSR2 ends the long connections (cleanly) before `--duration-ms`. */
let stopLong = false;
process.once('SIGUSR2', () => {
  stopLong = true;
});

async function longOne(n: number): Promise<void> {
  const interval = Number(values['interval-ms']);
  const end = Date.now() + durationMs;
  let socket: Socket | undefined;
  try {
    socket = await open();
    for (let i = 0; Date.now() < end && !stopLong; i++) {
      await roundTrip(socket, `long-${n}-${i}\n`);
      totals.requests += 1;
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
    await closed(socket);
    totals.ok += 1;
  } catch (err) {
    socket?.destroy();
    outcome(err as Error);
  }
}

async function main(): Promise<void> {
  if (values.mode === 'long') await Promise.all(Array.from({ length: Number(values.connections) }, (_, n) => longOne(n)));
  else await short();
  process.stdout.write(`${JSON.stringify({ mode: values.mode, ...totals, errors, starts })}\n`);
}

void main();
