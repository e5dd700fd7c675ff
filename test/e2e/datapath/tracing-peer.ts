/**
 * The server workload of the tracing lab test (`ip netns exec <pod> node tracing-peer.js <pod>`):
 * HTTP/1.1 on :8080 answering every request with the trace headers it received, as JSON, so
 * the test sees what the destination agent handed the application. Prints
 * `{"listening":8080}` once bound; exits after {@link SERVER_LIMIT_MS} (the lab kills it at
 * teardown before that).
 */
import http from 'node:http';

const PORT = 8080;
/** The test takes well under a minute; the backstop if its teardown never comes. */
const SERVER_LIMIT_MS = 300_000;
/** The headers of W3C Trace Context and B3 (single and multi) that an agent reads or writes. */
const TRACE_HEADERS = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];

const pod = process.argv[2] ?? 'unknown';
const server = http.createServer((req, res) => {
  req.resume();
  const seen: Record<string, string | string[]> = {};
  for (const h of TRACE_HEADERS) {
    const v = req.headers[h];
    if (v !== undefined) seen[h] = v;
  }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ pod, url: req.url, trace: seen }));
});
server.listen(PORT, '0.0.0.0', () => console.log(JSON.stringify({ listening: PORT, pod })));
setTimeout(() => process.exit(0), SERVER_LIMIT_MS).unref();
