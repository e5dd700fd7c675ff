#!/usr/bin/env node
/**
 * Upstream HTTP/1.1 client comparison for the destination agent (docs/l7.md, "Upstream HTTP
 * client"): Node's http.Agent (keep-alive) against undici's Pool (request and dispatch APIs),
 * 64 concurrent keep-alive requests with 1 KiB answers against a Node http server in a child
 * process, on 127.0.0.1. Bounded: REQUESTS per run, a 60 s cap per run. Prints requests per
 * second and the client process's CPU per 1,000 requests, the median of RUNS runs each, the
 * clients taking turns (A B C A B C ...) so a drifting machine hurts them alike.
 *
 *   node scripts/bench-upstream-client.mjs [requests=20000] [runs=3]
 *   UNDICI=/path/to/node_modules/undici/index.js node scripts/bench-upstream-client.mjs
 *
 * undici is loaded from $UNDICI, else from the project's node_modules (whatever version is
 * there: say which in the figures).
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import http from 'node:http';
import { once } from 'node:events';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CONCURRENCY = 64;
const ANSWER = Buffer.alloc(1024, 'x');
const RUN_CAP_MS = 60_000;

if (process.argv[2] === '--server') {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': ANSWER.length });
      res.end(ANSWER);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send?.(server.address().port));
  process.on('disconnect', () => process.exit(0));
} else {
  await main();
}

async function main() {
  const requests = Number(process.argv[2] ?? 20_000);
  const runs = Number(process.argv[3] ?? 3);
  const undici = await import(process.env.UNDICI ? pathToFileURL(process.env.UNDICI).href : 'undici');
  const child = fork(fileURLToPath(import.meta.url), ['--server'], { stdio: 'inherit' });
  const [port] = await once(child, 'message');
  const origin = `http://127.0.0.1:${port}`;
  const clients = {
    'http.Agent': () => agentClient(port),
    'undici Pool.request': () => undiciRequest(undici, origin),
    'undici Pool.dispatch': () => undiciDispatch(undici, origin),
  };
  const results = Object.fromEntries(Object.keys(clients).map((k) => [k, []]));
  for (let r = 0; r < runs + 1; r++) {
    for (const [name, make] of Object.entries(clients)) {
      const c = make();
      const fig = await measure(c.one, requests);
      await c.close();
      if (r > 0) results[name].push(fig); // run 0 warms up
    }
  }
  child.disconnect();
  console.log(`undici ${undiciVersion()} | node ${process.version} | ${requests} requests x ${runs} runs, ${CONCURRENCY} concurrent, 1 KiB answers`);
  for (const [name, figs] of Object.entries(results)) {
    const rps = median(figs.map((f) => f.rps));
    const cpu = median(figs.map((f) => f.cpuMsPer1k));
    console.log(`${name.padEnd(22)} ${rps.toFixed(0).padStart(7)} req/s (runs ${figs.map((f) => f.rps.toFixed(0)).join(' ')})  ${cpu.toFixed(1).padStart(6)} ms CPU / 1k req (runs ${figs.map((f) => f.cpuMsPer1k.toFixed(1)).join(' ')})`);
  }
}

function undiciVersion() {
  const pkg = process.env.UNDICI ? join(dirname(process.env.UNDICI), 'package.json') : createRequire(import.meta.url).resolve('undici/package.json');
  return JSON.parse(readFileSync(pkg, 'utf8')).version;
}

async function measure(one, requests) {
  let started = 0;
  let failed = 0;
  const deadline = performance.now() + RUN_CAP_MS;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  async function worker() {
    while (started < requests && performance.now() < deadline) {
      started += 1;
      try {
        await one();
      } catch {
        failed += 1;
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (failed > 0) throw new Error(`${failed} requests failed`);
  return { rps: (started / ms) * 1000, cpuMsPer1k: ((cpu.user + cpu.system) / 1000 / started) * 1000 };
}

function agentClient(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY, maxFreeSockets: CONCURRENCY });
  const one = () =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/', method: 'GET', agent }, (res) => {
        let n = 0;
        res.on('data', (c) => (n += c.length));
        res.on('end', () => (n === 1024 ? resolve() : reject(new Error(`got ${n} bytes`))));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  return { one, close: async () => agent.destroy() };
}

function undiciRequest(undici, origin) {
  const pool = new undici.Pool(origin, { connections: CONCURRENCY, pipelining: 1 });
  const one = async () => {
    const { statusCode, body } = await pool.request({ path: '/', method: 'GET' });
    let n = 0;
    for await (const c of body) n += c.length;
    if (statusCode !== 200 || n !== 1024) throw new Error(`got ${statusCode} ${n}`);
  };
  return { one, close: () => pool.close() };
}

function undiciDispatch(undici, origin) {
  const pool = new undici.Pool(origin, { connections: CONCURRENCY, pipelining: 1 });
  const one = () =>
    new Promise((resolve, reject) => {
      let n = 0;
      pool.dispatch(
        { path: '/', method: 'GET', origin },
        {
          onConnect() {},
          onHeaders() {
            return true;
          },
          onData(c) {
            n += c.length;
            return true;
          },
          onComplete() {
            if (n === 1024) resolve();
            else reject(new Error(`got ${n}`));
          },
          onError: reject,
        },
      );
    });
  return { one, close: () => pool.close() };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
