/**
 * The traffic peer of the resilience lab test (`resilience.test.ts`), run inside pods:
 *
 *   serve <pod> <port>                  HTTP/1.1 server; prints {"listening":port}. Every answer
 *                                       is JSON naming the pod. Behaviour is set on stdin with
 *                                       `set {"fail":50,"delayMs":0,"loadDelayMs":0,"hang":false,"resetPost":false}`
 *                                       (fail: that share of answers are 503, every k-th exactly;
 *                                       loadDelayMs: each answer waits that much per request in flight;
 *                                       resetPost: a POST's connection is reset after its body
 *                                       was read); `count` prints {"count","byMethod"} of the
 *                                       requests since the last `reset`.
 *   rate <url> <seconds> <rps> <cap>    open loop: rps GETs per second whatever the answers
 *                                       (at most cap in flight, beyond: skipped): {"statuses",
 *                                       "errors","skipped","okP50","okP99"} (of the 200s).
 *   load <url> <n> <conc> [method] [bodyBytes] [h:v ...]
 *                                       n requests, conc at a time (keep-alive): {"statuses",
 *                                       "errors","min","p50","p99","max","okP99" (of the 200s),
 *                                       "byPod","flags"}.
 *
 * Every mode exits by itself within {@link LIMIT_MS}. It plays the application; nothing of the
 * agent's code is used.
 */
import http from 'node:http';
import { createInterface } from 'node:readline';

const [mode, ...args] = process.argv.slice(2);
const LIMIT_MS = 600_000;
const CLIENT_LIMIT_MS = 120_000;

interface Behaviour {
  fail: number;
  delayMs: number;
  /** A server that slows down under load: each answer waits this many ms per request in flight. */
  loadDelayMs: number;
  hang: boolean;
  resetPost: boolean;
}

function serve(pod: string, port: number): void {
  setTimeout(() => process.exit(3), LIMIT_MS).unref();
  let behaviour: Behaviour = { fail: 0, delayMs: 0, loadDelayMs: 0, hang: false, resetPost: false };
  let inFlight = 0;
  let count = 0;
  let byMethod: Record<string, number> = {};
  let served = 0;
  const server = http.createServer((req, res) => {
    count++;
    byMethod[req.method ?? '?'] = (byMethod[req.method ?? '?'] ?? 0) + 1;
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const b = behaviour;
      if (b.resetPost && req.method === 'POST') {
        req.socket.resetAndDestroy();
        return;
      }
      if (b.hang) return;
      served++;
      // Every k-th answer fails, so the share is exact over any run of k.
      const failing = b.fail > 0 && served % Math.round(100 / b.fail) === 0;
      inFlight++;
      const answer = (): void => {
        inFlight--;
        res.statusCode = failing ? 503 : 200;
        res.setHeader('content-type', 'application/json');
        res.setHeader('x-pod', pod);
        res.end(JSON.stringify({ pod, method: req.method, bytes: Buffer.concat(parts).length, host: req.headers.host }));
      };
      const wait = b.delayMs + b.loadDelayMs * inFlight;
      if (wait > 0) setTimeout(answer, wait);
      else answer();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(port, () => console.log(JSON.stringify({ listening: port })));
  createInterface({ input: process.stdin }).on('line', (line) => {
    const text = line.trim();
    if (text.startsWith('set ')) {
      behaviour = { fail: 0, delayMs: 0, loadDelayMs: 0, hang: false, resetPost: false, ...(JSON.parse(text.slice(4)) as Partial<Behaviour>) };
      served = 0;
      console.log(JSON.stringify({ set: behaviour }));
    } else if (text === 'count') {
      console.log(JSON.stringify({ count, byMethod }));
    } else if (text === 'reset') {
      count = 0;
      byMethod = {};
      console.log(JSON.stringify({ reset: true }));
    }
  });
}

async function load(url: string, n: number, conc: number, method: string, bodyBytes: number, headerArgs: string[]): Promise<void> {
  setTimeout(() => process.exit(3), CLIENT_LIMIT_MS).unref();
  const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
  const headers: Record<string, string> = {};
  for (const h of headerArgs) {
    const i = h.indexOf(':');
    headers[h.slice(0, i)] = h.slice(i + 1);
  }
  const body = bodyBytes > 0 ? Buffer.alloc(bodyBytes, 7) : undefined;
  const statuses: Record<string, number> = {};
  const byPod: Record<string, number> = {};
  const flags: Record<string, number> = {};
  const times: number[] = [];
  const okTimes: number[] = [];
  let errors = 0;
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const started = performance.now();
      const req = http.request(url, { method, agent, headers: { ...headers, ...(body === undefined ? {} : { 'content-length': String(body.length) }) } }, (res) => {
        res.resume();
        res.on('end', () => {
          times.push(performance.now() - started);
          if (res.statusCode === 200) okTimes.push(performance.now() - started);
          statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
          const pod = res.headers['x-pod'];
          if (typeof pod === 'string') byPod[pod] = (byPod[pod] ?? 0) + 1;
          const failure = res.headers['x-meshlet-failure'];
          if (typeof failure === 'string') flags[failure] = (flags[failure] ?? 0) + 1;
          resolve();
        });
        res.on('error', () => {
          errors++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  agent.destroy();
  times.sort((a, b) => a - b);
  okTimes.sort((a, b) => a - b);
  const of = (list: number[], p: number): number => Math.round((list[Math.min(list.length - 1, Math.floor(list.length * p))] ?? 0) * 10) / 10;
  const at = (p: number): number => of(times, p);
  console.log(JSON.stringify({ statuses, errors, min: at(0), p50: at(0.5), p99: at(0.99), max: at(1), okP99: of(okTimes, 0.99), byPod, flags }));
}

/** Open loop: `rps` requests per second for `seconds`, whatever the answers (at most `cap` in flight; a tick that finds them all busy skips). */
async function rate(url: string, seconds: number, rps: number, cap: number): Promise<void> {
  setTimeout(() => process.exit(3), CLIENT_LIMIT_MS).unref();
  const agent = new http.Agent({ keepAlive: true, maxSockets: cap });
  const statuses: Record<string, number> = {};
  const okTimes: number[] = [];
  let errors = 0;
  let skipped = 0;
  let inFlight = 0;
  let sent = 0;
  const started = performance.now();
  const one = (): void => {
    if (inFlight >= cap) {
      skipped++;
      return;
    }
    inFlight++;
    sent++;
    const t0 = performance.now();
    const done = (status: number | undefined): void => {
      inFlight--;
      if (status === undefined) errors++;
      else statuses[String(status)] = (statuses[String(status)] ?? 0) + 1;
      if (status === 200) okTimes.push(performance.now() - t0);
    };
    const req = http.get(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode));
      res.on('error', () => done(undefined));
    });
    req.on('error', () => done(undefined));
  };
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.floor(((performance.now() - started) / 1000) * rps) - sent - skipped;
      for (let i = 0; i < due; i++) one();
      if (performance.now() - started >= seconds * 1000) {
        clearInterval(tick);
        resolve();
      }
    }, 10);
  });
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 20));
  agent.destroy();
  okTimes.sort((a, b) => a - b);
  const of = (p: number): number => Math.round((okTimes[Math.min(okTimes.length - 1, Math.floor(okTimes.length * p))] ?? 0) * 10) / 10;
  console.log(JSON.stringify({ statuses, errors, skipped, okP50: of(0.5), okP99: of(0.99) }));
}

switch (mode) {
  case 'serve':
    serve(args[0] ?? 'pod', Number(args[1] ?? 8080));
    break;
  case 'load':
    void load(args[0] ?? '', Number(args[1] ?? 1), Number(args[2] ?? 1), args[3] ?? 'GET', Number(args[4] ?? 0), args.slice(5));
    break;
  case 'rate':
    void rate(args[0] ?? '', Number(args[1] ?? 1), Number(args[2] ?? 1), Number(args[3] ?? 100));
    break;
  default:
    console.error(`unknown mode ${mode ?? ''}`);
    process.exit(2);
}
