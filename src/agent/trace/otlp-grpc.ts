/**
 * OTLP/gRPC: an export is one unary call of
 * `opentelemetry.proto.collector.trace.v1.TraceService/Export` whose message is the same
 * encoded `ExportTraceServiceRequest` OTLP/HTTP posts, so nothing is encoded twice and no
 * .proto is loaded: the body goes out as it is and the answer is only waited for. Status OK is a
 * success; any other status, or no answer within the timeout (the call's deadline), a failure.
 * grpc-js is loaded at the first export, so a process that exports over HTTP, or not at all,
 * does not load it.
 */
import type { Client } from '@grpc/grpc-js';
import type { OtlpTransport } from './otlp-transport.js';

/** The method OTLP/gRPC collectors serve (opentelemetry-proto, `trace_service.proto`). */
export const OTLP_TRACE_EXPORT_METHOD = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** An export answer larger than this is refused (it carries at most a partial-success count and a message). */
const MAX_ANSWER_BYTES = 64 * 1024;

const passBody = (b: Buffer): Buffer => b;
// Any value but null: grpc-js takes a null message for no answer at all.
const ignoreAnswer = (): true => true;

/** `host:port` of a collector URL; without a port, the scheme's (80, 443) as for OTLP/HTTP. */
export function grpcTarget(url: URL): string {
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  const host = url.hostname.includes(':') && !url.hostname.startsWith('[') ? `[${url.hostname}]` : url.hostname;
  return `${host}:${port}`;
}

/** Exports to one OTLP/gRPC collector: plaintext HTTP/2 for `http:`, TLS (the system's roots) for `https:`. */
export class OtlpGrpcTransport implements OtlpTransport {
  readonly url: URL;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private client: Promise<Client> | undefined;
  private closed = false;

  constructor(collector: string, timeoutMs: number, userAgent: string) {
    this.url = new URL(collector);
    this.timeoutMs = timeoutMs;
    this.userAgent = userAgent;
  }

  private connect(): Promise<Client> {
    this.client ??= import('@grpc/grpc-js').then((grpc) => {
      const creds = this.url.protocol === 'https:' ? grpc.credentials.createSsl() : grpc.credentials.createInsecure();
      const client = new grpc.Client(grpcTarget(this.url), creds, {
        'grpc.primary_user_agent': this.userAgent,
        'grpc.max_receive_message_length': MAX_ANSWER_BYTES,
      });
      // Closed while grpc-js was loading: the client made now is closed at once.
      if (this.closed) client.close();
      return client;
    });
    return this.client;
  }

  async send(body: Buffer): Promise<boolean> {
    if (this.closed) return false;
    let client: Client;
    try {
      client = await this.connect();
    } catch {
      return false;
    }
    if (this.closed) return false;
    return new Promise((resolve) => {
      try {
        client.makeUnaryRequest(OTLP_TRACE_EXPORT_METHOD, passBody, ignoreAnswer, body, { deadline: Date.now() + this.timeoutMs }, (err) => resolve(err === null));
      } catch {
        resolve(false);
      }
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.client?.then((c) => c.close(), () => undefined);
  }
}
