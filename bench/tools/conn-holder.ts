/**
 * Holds many idle TCP connections, run inside lab pods for the proxy-memory scenario:
 *
 *   node conn-holder.js server <port> <maxSeconds>
 *       accepts and keeps every connection; prints `{"listening":true}`, then `{"open":N}`
 *       whenever the count changed (at most every 100 ms).
 *   node conn-holder.js client <host> <port> <count> <concurrency> <maxSeconds>
 *       opens <count> connections, at most <concurrency> connecting at once; prints
 *       `{"connected":N,"failed":N,"error":...}` once every attempt is settled, holds them
 *       until stdin closes (or <maxSeconds>), closes them all and prints `{"closed":N}`.
 *
 * Both exit by themselves after <maxSeconds>. Speed is not the point here (the proxies'
 * memory is), so this is plain Node.js.
 *
 * @module
 */

import net from 'node:net';

/** How often the server reports its count, at most. */
const REPORT_MS = 100;

function print(value: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function limit(seconds: number, what: string): void {
  setTimeout(() => {
    print({ timeout: `${what} reached its ${seconds} s limit` });
    process.exit(2);
  }, seconds * 1000).unref();
}

function server(port: number, maxSeconds: number): void {
  limit(maxSeconds, 'server');
  let open = 0;
  let reported = -1;
  const report = setInterval(() => {
    if (open !== reported) {
      reported = open;
      print({ open });
    }
  }, REPORT_MS);
  report.unref();
  const srv = net.createServer((socket) => {
    open += 1;
    socket.on('error', () => undefined);
    socket.once('close', () => {
      open -= 1;
    });
  });
  srv.listen({ port, backlog: 4096 }, () => print({ listening: true }));
  // Stays alive on the listening socket until killed or the time limit.
}

function client(host: string, port: number, count: number, concurrency: number, maxSeconds: number): void {
  limit(maxSeconds, 'client');
  const sockets: net.Socket[] = [];
  let started = 0;
  let connected = 0;
  let failed = 0;
  let firstError: string | undefined;
  const settle = (): void => {
    if (connected + failed === count) {
      print({ connected, failed, ...(firstError === undefined ? {} : { error: firstError }) });
      return;
    }
    if (started < count) next();
  };
  const next = (): void => {
    started += 1;
    const socket = net.connect({ host, port });
    sockets.push(socket);
    let settled = false;
    socket.once('connect', () => {
      settled = true;
      connected += 1;
      settle();
    });
    socket.on('error', (err: Error) => {
      if (settled) return;
      settled = true;
      failed += 1;
      firstError ??= err.message;
      settle();
    });
  };
  for (let i = 0; i < Math.min(concurrency, count); i += 1) next();
  process.stdin.resume();
  process.stdin.once('end', () => {
    for (const s of sockets) s.destroy();
    print({ closed: sockets.length });
    process.exit(0);
  });
}

function main(): void {
  const [mode, ...rest] = process.argv.slice(2);
  const nums = rest.map(Number);
  if (mode === 'server' && nums.length === 2 && nums.every(Number.isFinite)) {
    server(nums[0] as number, nums[1] as number);
  } else if (mode === 'client' && rest.length === 5 && nums.slice(1).every(Number.isFinite)) {
    client(rest[0] as string, nums[1] as number, nums[2] as number, nums[3] as number, nums[4] as number);
  } else {
    print({ error: 'usage: conn-holder server <port> <maxSeconds> | client <host> <port> <count> <concurrency> <maxSeconds>' });
    process.exit(64);
  }
}

main();
