/**
 * The traffic peer of the rate-limit lab test (`rate-limit.test.ts`), run inside pods:
 *
 *   serve <port>                           HTTP/1.1 server answering 200 at once, remembering when
 *                                          each request arrived; prints {"listening":port}, then
 *                                          answers stdin lines `count <fromMs> <toMs>` (epoch ms)
 *                                          with the requests that arrived in [from, to):
 *                                          {"count","total"}.
 *   load <url> <seconds> <rate> <conc> [<startAtMs>]
 *                                          GETs at `rate` per second for `seconds` (keep-alive, at
 *                                          most `conc` in flight; a tick that finds them all busy
 *                                          skips), from `startAtMs` (epoch ms; now when absent or
 *                                          past, so loads started together begin together however
 *                                          long each process took to start):
 *                                          {"start","end","statuses","errors","skipped",
 *                                          "limited"} where `limited` is the first 429's headers.
 *
 * Every mode exits by itself within {@link LIMIT_MS}. It plays the application; nothing of the
 * agent's code is used.
 */
import http from 'node:http';
import { createInterface } from 'node:readline';

const [mode, ...args] = process.argv.slice(2);
/** The lab test runs well within this; a peer left behind ends here. */
const LIMIT_MS = 120_000;
/** Arrivals remembered at most (a test sends a few thousand). */
const MAX_ARRIVALS = 200_000;
/** Ticks per second of the load generator: requests are sent in small groups this often. */
const TICKS_PER_SECOND = 100;

setTimeout(() => process.exit(3), LIMIT_MS).unref();

function serve(port: number): void {
  const arrivals: number[] = [];
  const server = http.createServer((req, res) => {
    if (arrivals.length < MAX_ARRIVALS) arrivals.push(Date.now());
    req.resume();
    res.end('ok');
  });
  server.keepAliveTimeout = 30_000;
  server.listen(port, () => console.log(JSON.stringify({ listening: port })));
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [cmd, from, to] = line.trim().split(/\s+/);
    if (cmd !== 'count') return;
    const lo = Number(from);
    const hi = Number(to);
    console.log(JSON.stringify({ count: arrivals.filter((t) => t >= lo && t < hi).length, total: arrivals.length }));
  });
}

async function load(url: string, seconds: number, rate: number, conc: number, startAtMs: number): Promise<void> {
  const wait = startAtMs - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
  const statuses: Record<string, number> = {};
  let errors = 0;
  let skipped = 0;
  let inFlight = 0;
  let limited: http.IncomingHttpHeaders | undefined;
  const one = (): void => {
    if (inFlight >= conc) {
      skipped++;
      return;
    }
    inFlight++;
    const req = http.get(url, { agent }, (res) => {
      statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
      if (res.statusCode === 429 && limited === undefined) limited = res.headers;
      res.resume();
      res.once('end', () => inFlight--);
    });
    req.once('error', () => {
      errors++;
      inFlight--;
    });
  };
  const start = Date.now();
  const end = start + seconds * 1000;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = Date.now();
      // Catch up to where the schedule says we should be (timers on a busy host fire late).
      const due = Math.floor(((Math.min(now, end) - start) / 1000) * rate);
      while (sent < due) {
        sent++;
        one();
      }
      if (now >= end) {
        clearInterval(timer);
        resolve();
      }
    }, 1000 / TICKS_PER_SECOND);
  });
  const stop = Date.now();
  while (inFlight > 0 && Date.now() - stop < 10_000) await new Promise((r) => setTimeout(r, 20));
  agent.destroy();
  console.log(JSON.stringify({ start, end, statuses, errors, skipped, limited: limited ?? null }));
  process.exit(0);
}

switch (mode) {
  case 'serve':
    serve(Number(args[0] ?? 8080));
    break;
  case 'load':
    void load(String(args[0]), Number(args[1]), Number(args[2]), Number(args[3]), Number(args[4] ?? 0));
    break;
  default:
    console.log(JSON.stringify({ ok: false, error: `unknown mode ${String(mode)}` }));
    process.exit(2);
}
