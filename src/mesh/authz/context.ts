/**
 * The attributes of one evaluation, prepared once: the principal without `spiffe://` and its
 * namespace, the request's path without its query, its host lowercased with and without the
 * port, and the addresses parsed (lazily: only when a rule compares one). The engine reuses one
 * context for every evaluation (evaluation is synchronous), so the hot path allocates nothing
 * beyond the strings it must cut.
 */
import { ATTR_DESTINATION_IP, ATTR_HEADER, ATTR_HOST, ATTR_METHOD, ATTR_NAMESPACE, ATTR_PATH, ATTR_PORT, ATTR_PRINCIPAL, ATTR_REMOTE_IP, ATTR_SNI, ATTR_SOURCE_IP, type FieldCheck } from './compile.js';
import { IpValue } from './ip-blocks.js';
import { hostWithoutPort, matchedPath, namespaceOf, principalOf } from './match.js';
import type { AuthzAttributes, AuthzHeaders } from './types.js';

/** A header's value as rules compare it: several values joined with ", "; undefined when absent. */
export function headerValue(headers: AuthzHeaders, name: string): string | undefined {
  if (!Object.hasOwn(headers, name)) return undefined;
  const v = headers[name];
  if (v === undefined || typeof v === 'string') return v;
  return v.length === 0 ? undefined : v.join(', ');
}

export class AuthzContext {
  attrs: AuthzAttributes = { destinationIp: '', destinationPort: 0 };
  principal: string | undefined = undefined;
  namespace: string | undefined = undefined;
  private lastId: string | undefined = undefined;
  private pathValue: string | undefined = undefined;
  private hostValue: string | undefined = undefined;
  private hostBare: string | undefined = undefined;
  private readonly source = new IpValue();
  private readonly remote = new IpValue();
  private readonly destination = new IpValue();
  /** Bit per address parsed: 1 source, 2 remote, 4 destination. */
  private parsed = 0;

  /** Prepares for `attrs` (principal and namespace now, the rest on first use). */
  reset(attrs: AuthzAttributes): this {
    this.attrs = attrs;
    const id = attrs.sourcePrincipal;
    // The same peer opens many connections in a row: reuse the last split (no slice per call).
    if (id !== this.lastId) {
      this.lastId = id;
      this.principal = id === undefined || id === '' ? undefined : principalOf(id);
      this.namespace = this.principal === undefined ? undefined : namespaceOf(this.principal);
    }
    this.pathValue = undefined;
    this.hostValue = undefined;
    this.hostBare = undefined;
    this.parsed = 0;
    return this;
  }

  /** The request path without query, fragment and dot segments; undefined without a request. */
  path(): string | undefined {
    if (this.pathValue === undefined && this.attrs.request !== undefined) this.pathValue = matchedPath(this.attrs.request.path);
    return this.pathValue;
  }

  /** The host, lowercase; undefined without a request. */
  host(): string | undefined {
    if (this.hostValue === undefined && this.attrs.request !== undefined) {
      this.hostValue = this.attrs.request.host.toLowerCase();
      this.hostBare = hostWithoutPort(this.hostValue);
    }
    return this.hostValue;
  }

  sourceIp(): IpValue {
    if ((this.parsed & 1) === 0) {
      this.source.set(this.attrs.sourceIp);
      this.parsed |= 1;
    }
    return this.source;
  }

  remoteIp(): IpValue {
    if ((this.parsed & 2) === 0) {
      this.remote.set(this.attrs.remoteIp ?? this.attrs.sourceIp);
      this.parsed |= 2;
    }
    return this.remote;
  }

  destinationIp(): IpValue {
    if ((this.parsed & 4) === 0) {
      this.destination.set(this.attrs.destinationIp);
      this.parsed |= 4;
    }
    return this.destination;
  }

  /** True when the field holds for these attributes (`not*`: when no value matches). */
  matches(c: FieldCheck): boolean {
    return this.positive(c) !== c.negate;
  }

  /** True when some value of the field matches (an absent attribute matches none). */
  private positive(c: FieldCheck): boolean {
    switch (c.attr) {
      case ATTR_PRINCIPAL:
        return this.principal !== undefined && (c.strings as NonNullable<FieldCheck['strings']>).test(this.principal);
      case ATTR_NAMESPACE:
        return this.namespace !== undefined && (c.strings as NonNullable<FieldCheck['strings']>).test(this.namespace);
      case ATTR_SOURCE_IP:
        return (c.ips as NonNullable<FieldCheck['ips']>).has(this.sourceIp());
      case ATTR_REMOTE_IP:
        return (c.ips as NonNullable<FieldCheck['ips']>).has(this.remoteIp());
      case ATTR_DESTINATION_IP:
        return (c.ips as NonNullable<FieldCheck['ips']>).has(this.destinationIp());
      case ATTR_PORT:
        return (c.ports as ReadonlySet<number>).has(this.attrs.destinationPort);
      case ATTR_SNI:
        return this.attrs.sni !== undefined && (c.strings as NonNullable<FieldCheck['strings']>).test(this.attrs.sni);
      case ATTR_METHOD:
        return this.attrs.request !== undefined && (c.strings as NonNullable<FieldCheck['strings']>).test(this.attrs.request.method);
      case ATTR_PATH: {
        const path = this.path();
        return path !== undefined && (c.strings as NonNullable<FieldCheck['strings']>).test(path);
      }
      case ATTR_HOST: {
        const host = this.host();
        if (host === undefined) return false;
        const m = c.strings as NonNullable<FieldCheck['strings']>;
        return m.test(host) || (this.hostBare !== host && m.test(this.hostBare as string));
      }
      case ATTR_HEADER: {
        const r = this.attrs.request;
        const v = r === undefined ? undefined : headerValue(r.headers, c.header);
        return v !== undefined && (c.strings as NonNullable<FieldCheck['strings']>).test(v);
      }
      default:
        return false;
    }
  }

  /** The attribute's value as `explain` shows it; undefined when absent. */
  actual(c: FieldCheck): string | undefined {
    const a = this.attrs;
    switch (c.attr) {
      case ATTR_PRINCIPAL:
        return this.principal;
      case ATTR_NAMESPACE:
        return this.namespace;
      case ATTR_SOURCE_IP:
        return a.sourceIp;
      case ATTR_REMOTE_IP:
        return a.remoteIp ?? a.sourceIp;
      case ATTR_DESTINATION_IP:
        return a.destinationIp;
      case ATTR_PORT:
        return String(a.destinationPort);
      case ATTR_SNI:
        return a.sni;
      case ATTR_METHOD:
        return a.request?.method;
      case ATTR_PATH:
        return this.path();
      case ATTR_HOST:
        return a.request?.host;
      case ATTR_HEADER:
        return a.request === undefined ? undefined : headerValue(a.request.headers, c.header);
      default:
        return undefined;
    }
  }
}
