/**
 * An OTLP/gRPC trace receiver for tests, on 127.0.0.1:0: grpc-js serving
 * `TraceService/Export` as the official opentelemetry-proto files define it (loaded with
 * @grpc/proto-loader, so the method's path is the specification's, not meshlet's constant); each
 * request's bytes are decoded with the official definitions too (`decodeExport`).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { decodeExport, spanWaiter, type ReceivedSpan } from './otlp-receiver.js';

const PROTO_ROOT = fileURLToPath(new URL('../../../test/fixtures/opentelemetry-proto/', import.meta.url));
const SERVICE = 'opentelemetry.proto.collector.trace.v1.TraceService';

/** What the receiver answers each export with: a status (OK by default), or `'silent'` (never answers). */
export type GrpcAnswer = grpc.status | 'silent';

/** A running receiver. */
export interface OtlpGrpcReceiver {
  /** `http://127.0.0.1:<port>`, as a Telemetry object names a plaintext gRPC collector. */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Export calls received. */
  readonly requests: number;
  /** The `user-agent` of the last call. */
  readonly userAgent: string | undefined;
  waitForSpans(n: number, deadlineMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

/** The official service definition, with the request left as bytes for `decodeExport`. */
function serviceDefinition(): grpc.ServiceDefinition {
  const pkg = protoLoader.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto', { includeDirs: [PROTO_ROOT] });
  const def = pkg[SERVICE] as grpc.ServiceDefinition;
  const exp = def['Export'] as grpc.MethodDefinition<unknown, unknown>;
  return { Export: { ...exp, requestDeserialize: (b: Buffer) => b } };
}

export async function otlpGrpcReceiver(answer: () => GrpcAnswer = () => grpc.status.OK): Promise<OtlpGrpcReceiver> {
  const spans: ReceivedSpan[] = [];
  let requests = 0;
  let userAgent: string | undefined;
  const waiter = spanWaiter(spans);
  const held: Array<grpc.sendUnaryData<unknown>> = [];
  const server = new grpc.Server();
  server.addService(serviceDefinition(), {
    Export: (call: grpc.ServerUnaryCall<Buffer, unknown>, done: grpc.sendUnaryData<unknown>) => {
      requests++;
      userAgent = String(call.metadata.get('user-agent')[0] ?? '');
      const a = answer();
      if (a === 'silent') {
        held.push(done);
        return;
      }
      if (a !== grpc.status.OK) {
        done({ code: a, details: 'refused by the test' });
        return;
      }
      spans.push(...decodeExport(call.request));
      waiter.arrived();
      done(null, {});
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))));
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    get requests() {
      return requests;
    },
    get userAgent() {
      return userAgent;
    },
    waitForSpans: waiter.wait,
    close: () => {
      for (const done of held.splice(0)) done({ code: grpc.status.UNAVAILABLE, details: 'closing' });
      server.forceShutdown();
      return Promise.resolve();
    },
  };
}
