/**
 * An OTLP/HTTP trace collector for the lab (`l7-tracing` bench scenario, tracing e2e test), run
 * in a lab namespace: `node tracing-sink.js <port> [--decode] [--host=ADDR]`. It accepts
 * `POST <any path>` with `application/x-protobuf`, counts the spans per path
 * (`tracing-span-count.ts`: cheap, so that it takes little of the CPU the agents are measured
 * on) and answers 200 with an empty `ExportTraceServiceResponse`. The first export of each path
 * is also decoded with the official opentelemetry-proto definitions (the tests' receiver,
 * `test/helpers/otlp-receiver.ts`) and the two counts compared, so a count is of real spans;
 * with `--decode` every export is decoded and kept (the e2e test reads the spans).
 *
 * It prints `{"listening":<port>}` once bound (the port bound: port 0 picks one), then answers one JSON line per stdin line:
 * `counts` -> `{"counts":SinkCounts}`, `spans` -> `{"spans":ReceivedSpan[]}` (with `--decode`).
 * It exits when stdin ends, or after {@link SINK_LIMIT_MS} (the lab kills it at teardown too).
 *
 * @module
 */

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { decodeExport, type ReceivedSpan } from '../test/helpers/otlp-receiver.js';
import { countSpans, type SpanCount } from './tracing-span-count.js';

/** Longer than any bench run (a full run is about 20 minutes): the backstop if nobody stops it. */
const SINK_LIMIT_MS = 3 * 60 * 60 * 1000;
/** An export of 512 spans is about 450 KiB; more than this is refused (413). */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Problems kept for the report: the first few say what is wrong. */
const MAX_PROBLEMS = 5;
/** Spans kept with `--decode`: the e2e test sends a handful; a bound all the same. */
const MAX_KEPT_SPANS = 10_000;

/** What the sink received, per collector path and in all. */
export interface SinkCounts {
  readonly total: SpanCount & { exports: number };
  readonly byPath: Record<string, SpanCount & { exports: number }>;
  /** Exports refused: not a POST of protobuf, too large, not a valid request, or counted differently by the official decoder. */
  malformed: number;
  readonly problems: string[];
}

const counts: SinkCounts = { total: { spans: 0, client: 0, server: 0, exports: 0 }, byPath: {}, malformed: 0, problems: [] };
const kept: ReceivedSpan[] = [];
const decodeAll = process.argv.includes('--decode');

function problem(text: string): void {
  counts.malformed += 1;
  if (counts.problems.length < MAX_PROBLEMS) counts.problems.push(text);
}

/** Counts one export; false (and a problem noted) when it is not a valid request. */
function receive(path: string, body: Buffer): boolean {
  let c: SpanCount;
  try {
    c = countSpans(body);
  } catch (err) {
    problem(`${path}: ${(err as Error).message}`);
    return false;
  }
  const first = counts.byPath[path] === undefined;
  if (first || decodeAll) {
    let decoded: ReceivedSpan[];
    try {
      decoded = decodeExport(body);
    } catch (err) {
      problem(`${path}: the official decoder refused an export: ${(err as Error).message}`);
      return false;
    }
    if (decoded.length !== c.spans) {
      problem(`${path}: ${c.spans} spans counted, ${decoded.length} decoded`);
      return false;
    }
    if (decodeAll) kept.push(...decoded.slice(0, Math.max(0, MAX_KEPT_SPANS - kept.length)));
  }
  const p = (counts.byPath[path] ??= { spans: 0, client: 0, server: 0, exports: 0 });
  for (const into of [p, counts.total]) {
    into.spans += c.spans;
    into.client += c.client;
    into.server += c.server;
    into.exports += 1;
  }
  return true;
}

const server = http.createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (req.method !== 'POST' || req.headers['content-type'] !== 'application/x-protobuf') {
    problem(`${req.method ?? '?'} ${path} with content-type ${String(req.headers['content-type'])}`);
    req.resume();
    res.writeHead(400).end();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= MAX_BODY_BYTES) chunks.push(c);
  });
  req.on('end', () => {
    if (size > MAX_BODY_BYTES) {
      problem(`${path}: export of ${size} bytes, more than ${MAX_BODY_BYTES}`);
      res.writeHead(413).end();
      return;
    }
    const ok = receive(path, Buffer.concat(chunks));
    res.writeHead(ok ? 200 : 400, { 'content-type': 'application/x-protobuf' }).end();
  });
});
server.keepAliveTimeout = 60_000;

const port = Number(process.argv[2]);
// Every address of its namespace (the lab's pod address); tests outside a lab pass --host=127.0.0.1.
const host = process.argv.find((a) => a.startsWith('--host='))?.slice('--host='.length) ?? '0.0.0.0';
server.listen(port, host, () => process.stdout.write(`${JSON.stringify({ listening: (server.address() as AddressInfo).port })}\n`));
setTimeout(() => process.exit(3), SINK_LIMIT_MS).unref();

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'counts') process.stdout.write(`${JSON.stringify({ counts })}\n`);
  else if (cmd === 'spans') process.stdout.write(`${JSON.stringify({ spans: kept })}\n`);
  else process.stdout.write(`${JSON.stringify({ error: `unknown command ${JSON.stringify(cmd)}: counts or spans` })}\n`);
});
lines.on('close', () => process.exit(0));
