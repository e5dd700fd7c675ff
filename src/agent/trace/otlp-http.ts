/**
 * OTLP/HTTP: an export is one `POST <collector>/v1/traces` with an `application/x-protobuf`
 * body, on one kept-alive connection (exports are sequential). A 2xx is a success.
 */
import http from 'node:http';
import https from 'node:https';
import type { OtlpTransport } from './otlp-transport.js';

/** The export URL of a collector: its own path when it has one, else `/v1/traces` (as OTEL_EXPORTER_OTLP_ENDPOINT). */
export function exportUrl(collector: string): URL {
  const url = new URL(collector);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/traces';
  return url;
}

/** Exports to one OTLP/HTTP collector. */
export class OtlpHttpTransport implements OtlpTransport {
  readonly url: URL;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;

  constructor(collector: string, timeoutMs: number) {
    this.url = exportUrl(collector);
    this.timeoutMs = timeoutMs;
    const Agent = this.url.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: 1 });
  }

  send(body: Buffer): Promise<boolean> {
    return new Promise((resolve) => {
      const mod = this.url.protocol === 'https:' ? https : http;
      let settled = false;
      const done = (ok: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve(ok);
      };
      const req = mod.request(this.url, {
        method: 'POST',
        agent: this.agent,
        headers: { 'content-type': 'application/x-protobuf', 'content-length': String(body.length) },
      }, (res) => {
        res.resume();
        res.once('end', () => done((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300));
        res.once('error', () => done(false));
      });
      // The whole exchange, not only idle time: a collector that trickles its answer is slow too.
      const deadline = setTimeout(() => {
        req.destroy(new Error('export timed out'));
        done(false);
      }, this.timeoutMs);
      deadline.unref();
      req.once('error', () => done(false));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
