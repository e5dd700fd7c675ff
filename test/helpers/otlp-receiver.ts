/**
 * An OTLP/HTTP trace receiver for tests, on 127.0.0.1:0: it accepts `POST /v1/traces`
 * (`application/x-protobuf`) and decodes each body with the official opentelemetry-proto
 * definitions (`test/fixtures/opentelemetry-proto`, loaded with protobufjs), so a test checks
 * the agents' bytes against the specification, not against meshlet's own encoder.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const PROTO_ROOT = fileURLToPath(new URL('../../../test/fixtures/opentelemetry-proto/', import.meta.url));

/** A decoded span, ids as hex, times as decimal strings of nanoseconds. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly name: string;
  /** 2 SERVER, 3 CLIENT. */
  readonly kind: number;
  readonly startTimeUnixNano: string;
  readonly endTimeUnixNano: string;
  readonly attributes: Record<string, string | number | boolean>;
  readonly status: { code: number; message: string };
  readonly flags: number;
  /** The resource's attributes. */
  readonly resource: Record<string, string | number | boolean>;
  readonly scope: string;
}

let exportRequest: protobuf.Type | undefined;

/** The `ExportTraceServiceRequest` type, from the official .proto files. */
export function exportRequestType(): protobuf.Type {
  if (exportRequest !== undefined) return exportRequest;
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string) => (target.startsWith('/') ? target : PROTO_ROOT + target);
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto', { keepCase: false });
  exportRequest = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
  return exportRequest;
}

type Plain = Record<string, unknown>;

function attrs(list: unknown): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of (list ?? []) as Plain[]) {
    const v = (kv['value'] ?? {}) as Plain;
    const value = v['stringValue'] ?? v['intValue'] ?? v['boolValue'] ?? v['doubleValue'];
    out[String(kv['key'])] = typeof value === 'string' && v['intValue'] !== undefined ? Number(value) : (value as string | number | boolean);
  }
  return out;
}

/** Decodes an export body into spans (the resource and scope copied onto each). */
export function decodeExport(body: Uint8Array): ReceivedSpan[] {
  const type = exportRequestType();
  const msg = type.toObject(type.decode(body), { longs: String, bytes: String, defaults: true }) as Plain;
  const out: ReceivedSpan[] = [];
  const hex = (b64: unknown): string => Buffer.from(String(b64), 'base64').toString('hex');
  for (const rs of (msg['resourceSpans'] ?? []) as Plain[]) {
    const resource = attrs(((rs['resource'] ?? {}) as Plain)['attributes']);
    for (const ss of (rs['scopeSpans'] ?? []) as Plain[]) {
      const scope = String(((ss['scope'] ?? {}) as Plain)['name'] ?? '');
      for (const s of (ss['spans'] ?? []) as Plain[]) {
        const status = (s['status'] ?? {}) as Plain;
        out.push({
          traceId: hex(s['traceId']),
          spanId: hex(s['spanId']),
          parentSpanId: hex(s['parentSpanId']),
          traceState: String(s['traceState'] ?? ''),
          name: String(s['name']),
          kind: Number(s['kind']),
          startTimeUnixNano: String(s['startTimeUnixNano']),
          endTimeUnixNano: String(s['endTimeUnixNano']),
          attributes: attrs(s['attributes']),
          status: { code: Number(status['code'] ?? 0), message: String(status['message'] ?? '') },
          flags: Number(s['flags'] ?? 0),
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

/** A running receiver. */
export interface OtlpReceiver {
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Export requests received (bodies that decoded). */
  readonly requests: number;
  /** Resolves once at least `n` spans arrived (rejects after `deadlineMs`, generous). */
  waitForSpans(n: number, deadlineMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

/**
 * Waiting for spans, shared by the HTTP and gRPC receivers: `arrived()` after each export,
 * `wait(n)` resolves once `spans` holds `n` (rejects after `deadlineMs`, generous).
 */
export function spanWaiter(spans: readonly ReceivedSpan[]): { arrived(): void; wait(n: number, deadlineMs?: number): Promise<ReceivedSpan[]> } {
  const waiters: Array<() => void> = [];
  return {
    arrived: () => {
      for (const w of waiters.splice(0)) w();
    },
    wait: (n, deadlineMs = 30_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${spans.length} of ${n} spans arrived`)), deadlineMs);
        const check = (): void => {
          if (spans.length >= n) {
            clearTimeout(timer);
            resolve(spans as ReceivedSpan[]);
          } else waiters.push(check);
        };
        check();
      }),
  };
}

/** Starts a receiver; `answer` sets the status it replies with (default 200). */
export async function otlpReceiver(answer: () => number = () => 200): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  let requests = 0;
  const waiter = spanWaiter(spans);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || req.headers['content-type'] !== 'application/x-protobuf') {
        res.writeHead(400).end();
        return;
      }
      spans.push(...decodeExport(Buffer.concat(chunks)));
      requests++;
      waiter.arrived();
      res.writeHead(answer(), { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    get requests() {
      return requests;
    },
    waitForSpans: waiter.wait,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
