/**
 * An upstream call whose start waits for a decision (a worker's rate-limit lease being refilled
 * by the primary, a few milliseconds at most): the caller gets the call at once and pipes the
 * request body into it as usual; the body waits in a PassThrough (its high-water mark, then
 * backpressure on the client: nothing grows without bound) until the call starts, and then flows
 * on into it. An abort before the start aborts the call as soon as it exists.
 */
import { PassThrough } from 'node:stream';
import type { UpstreamCall } from './exchange.js';

/** A call started once `decided` resolves (`decided` must never reject). */
export function deferredCall(decided: Promise<() => UpstreamCall>): UpstreamCall {
  const body = new PassThrough();
  let inner: UpstreamCall | undefined;
  let aborted = false;
  const response = decided.then((start) => {
    const call = start();
    inner = call;
    body.pipe(call.body);
    if (aborted) call.abort();
    return call.response;
  });
  return {
    body,
    response,
    abort: () => {
      aborted = true;
      inner?.abort();
    },
  };
}
