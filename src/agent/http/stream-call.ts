/**
 * An HTTP/2 request on a tunnel session as an {@link UpstreamCall}: the source agent's side of
 * what crosses the tunnel (`wire.ts`). The stream is the request body and the response body;
 * the destination agent's `meshlet-error` header marks a response it made itself.
 */
import { constants as h2, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader } from 'node:http2';
import { RESPONSES, type ErrorKind } from '../policy/respond.js';
import { UpstreamError, type HeaderMap, type UpstreamCall, type UpstreamResponse } from './exchange.js';
import { endToEnd, ERROR_HEADER } from './wire.js';

/** The failure a `meshlet-error` value names, if it names one. */
export function errorKindOf(value: string | string[] | undefined): ErrorKind | undefined {
  return typeof value === 'string' && Object.hasOwn(RESPONSES, value) ? (value as ErrorKind) : undefined;
}

/** Wraps a request stream opened on a tunnel session (its headers already sent). */
export function streamCall(stream: ClientHttp2Stream): UpstreamCall {
  stream.on('error', noop);
  const response = new Promise<UpstreamResponse>((resolve, reject) => {
    let answered = false;
    stream.once('response', (headers: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
      answered = true;
      const failure = errorKindOf(headers[ERROR_HEADER]);
      const trailers = new Promise<HeaderMap>((done, fail) => {
        let got: HeaderMap = {};
        stream.once('trailers', (t: IncomingHttpHeaders) => {
          got = endToEnd(t);
        });
        stream.once('end', () => done(got));
        stream.once('close', () => {
          if (!stream.readableEnded) fail(new UpstreamError('upstream_reset', `tunnel stream closed before the response ended (code ${stream.rstCode ?? 0})`, false));
        });
      });
      trailers.catch(noop);
      resolve({ status: headers[':status'] ?? 502, headers: endToEnd(headers), body: stream, trailers, ...(failure === undefined ? {} : { failure }) });
    });
    stream.once('close', () => {
      if (answered) return;
      // REFUSED_STREAM: the peer agent did nothing with it (a limit, a GOAWAY): safe elsewhere.
      const refused = stream.rstCode === h2.NGHTTP2_REFUSED_STREAM;
      reject(new UpstreamError(refused ? 'tunnel_refused' : 'tunnel_reset', `tunnel stream closed before a response (code ${stream.rstCode ?? 0})`, refused));
    });
  });
  response.catch(noop);
  return {
    body: stream,
    response,
    abort: () => {
      if (!stream.destroyed) stream.close(h2.NGHTTP2_CANCEL);
    },
  };
}

function noop(): void {}
