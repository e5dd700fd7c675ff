/**
 * The RequestMirror filter: a copy of a request goes to the mirror's backend Service (an endpoint
 * picked by its own balancer), its authority suffixed `-shadow` as Envoy does, and nothing waits
 * for it: its response is read and dropped, a mirror whose stream cannot keep up with the
 * request body is cancelled rather than allowed to slow the primary, mirrors in flight are
 * bounded per process ({@link MAX_MIRRORS_IN_FLIGHT}) and each is cancelled after
 * {@link MIRROR_TIMEOUT_MS}. Counted in `meshlet_requests_mirrored_total`.
 */
import type { RequestMirror } from '../../mesh/routes.js';
import type { BalancerRegistry } from '../policy/balancer.js';
import type { PlannedHead, ServicePortLookup } from '../policy/request-plan.js';
import type { ResilienceMetrics } from '../proxy/resilience-metrics.js';
import type { ServicePortEntry, WorkloadIndex } from '../state/workload-index.js';
import type { HttpProto, RequestHead, UpstreamCall } from './exchange.js';
import type { HttpConnection, LocalCaller, PlaintextCaller, TunnelRequester } from './outbound-types.js';
import { openCall, plainHeaders } from './open-call.js';
import type { ReplayBody } from './replay-body.js';

export const MAX_MIRRORS_IN_FLIGHT = 256;
export const MIRROR_TIMEOUT_MS = 30_000;

/** `host-shadow`, or `host-shadow:port` (Envoy's rule), for the mirror's authority. */
export function shadowAuthority(authority: string): string {
  const m = /^(\[[^\]]*\]|[^:]*)(:\d+)?$/.exec(authority);
  if (m === null) return `${authority}-shadow`;
  return `${m[1] ?? ''}-shadow${m[2] ?? ''}`;
}

export interface MirrorSenderOptions {
  readonly balancers: BalancerRegistry;
  readonly tunnel: TunnelRequester;
  readonly local: LocalCaller;
  readonly plaintext: PlaintextCaller;
  readonly lookup: (index: WorkloadIndex) => ServicePortLookup;
  readonly metrics?: ResilienceMetrics | undefined;
}

export class MirrorSender {
  private inFlight = 0;

  constructor(private readonly opts: MirrorSenderOptions) {}

  /** Mirrors in flight now. */
  get active(): number {
    return this.inFlight;
  }

  send(index: WorkloadIndex, entry: ServicePortEntry, m: RequestMirror, head: PlannedHead, conn: HttpConnection, proto: HttpProto, body: ReplayBody | undefined): void {
    const { opts } = this;
    const service = `${m.backendRef.namespace}/${m.backendRef.name}`;
    const count = (outcome: 'sent' | 'failed' | 'skipped'): void => opts.metrics?.mirrored(service, outcome);
    const mirrorEntry = m.backendRef.invalid === undefined ? opts.lookup(index)(service, m.backendRef.port ?? entry.port.port) : undefined;
    if (mirrorEntry === undefined) {
      count('failed');
      return;
    }
    if (this.inFlight >= MAX_MIRRORS_IN_FLIGHT) {
      count('skipped');
      return;
    }
    const lease = opts.balancers.lease(mirrorEntry);
    const target = lease === undefined ? undefined : index.endpointTarget(mirrorEntry, lease.endpoint);
    if (lease === undefined || target === undefined || target.kind === 'no-endpoints' || target.kind === 'passthrough' || (target.kind === 'plaintext' && target.endpoint.meshed)) {
      lease?.release({ outcome: 'cancelled' });
      count('failed');
      return;
    }
    const requestHead: RequestHead = { method: head.method, path: head.path, authority: shadowAuthority(head.authority), proto, headers: plainHeaders(head.headers) };
    const endStream = body === undefined;
    this.inFlight++;
    let finished = false;
    let call: UpstreamCall | undefined;
    const timer = setTimeout(() => end('failure'), MIRROR_TIMEOUT_MS);
    const end = (outcome: 'success' | 'failure' | 'cancelled'): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.inFlight--;
      call?.abort();
      lease.release({ outcome });
      if (outcome === 'failure') count('failed');
    };
    const run = (c: UpstreamCall): void => {
      if (finished) {
        c.abort();
        return;
      }
      call = c;
      if (body === undefined) c.body.end();
      else if (!body.tee(c.body, () => end('cancelled'))) {
        end('cancelled');
        return;
      }
      c.response.then(
        (r) => {
          r.body.resume();
          r.trailers.then(() => {
            call = undefined;
            end(r.status < 500 ? 'success' : 'failure');
          }, () => end('failure'));
        },
        () => end('failure'),
      );
    };
    count('sent');
    const opened = openCall(opts, conn, mirrorEntry.service.key, target, requestHead, endStream);
    if (opened instanceof Promise) opened.then(run, () => end('failure'));
    else run(opened);
  }
}
