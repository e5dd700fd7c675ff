/**
 * How an exporter's batches reach its collector: OTLP/HTTP (`otlp-http.ts`) or OTLP/gRPC
 * (`otlp-grpc.ts`). Both carry the same bytes, an encoded `ExportTraceServiceRequest`.
 */

/** One collector's connection. */
export interface OtlpTransport {
  /** Where the exports go (for logs and tests). */
  readonly url: URL;
  /** Sends one export; true when the collector accepted it. Never rejects; gives up after the transport's timeout. */
  send(body: Buffer): Promise<boolean>;
  /** Closes the connection; an export in flight fails. */
  close(): void;
}
