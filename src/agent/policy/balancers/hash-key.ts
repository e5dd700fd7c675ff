/**
 * The consistent-hash key of a request, from the policy's sources in order (Envoy's
 * `hash_policy` list): a header's value, a cookie's value, or the source IP; the first source
 * that yields a value wins. No value: the request has no key and a hashing balancer picks at
 * random. (Envoy can also mint a cookie when it is missing; that needs the response and belongs
 * to the HTTP layer.)
 */

import type { HashKeySource } from '../../../mesh/load-balancer.js';

export type { HashKeySource };

/** What a hash key is read from (Node's `IncomingHttpHeaders` and HTTP/2 headers fit). */
export interface HashKeyRequest {
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly sourceAddress: string;
}

/** The value of cookie `name` in a `Cookie` header, or undefined. */
export function cookieValue(header: string, name: string): string | undefined {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function headerValue(req: HashKeyRequest, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(',');
}

/** The request's hash key from `sources`, in order; undefined when none yields a value. */
export function hashKeyOf(sources: readonly HashKeySource[], req: HashKeyRequest): string | undefined {
  for (const source of sources) {
    let key: string | undefined;
    switch (source.kind) {
      case 'header':
        key = headerValue(req, source.name);
        break;
      case 'cookie': {
        const header = headerValue(req, 'cookie');
        key = header === undefined ? undefined : cookieValue(header, source.name);
        break;
      }
      case 'source-ip':
        key = req.sourceAddress === '' ? undefined : req.sourceAddress;
        break;
    }
    if (key !== undefined && key !== '') return key;
  }
  return undefined;
}
