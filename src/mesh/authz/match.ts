/**
 * Compiled value matchers of AuthorizationPolicy rules, built once per policy (`compile.ts`) and
 * run on every connection and request: strings with Istio's wildcards, paths with its `{*}` /
 * `{**}` templates, and the request attributes they are compared with (a path without its query,
 * a host without its port, a principal's namespace). No regular expression, no allocation per
 * test. Addresses and CIDRs are `ip-blocks.ts`.
 *
 * Istio's wildcard (`pilot/pkg/security/authz/matcher`): a value is `*`, `prefix*`, `*suffix` or
 * exact. `*` alone means "any non-empty value" (`.+`) for principals, namespaces, paths, methods
 * and SNI, and "present" (even empty) for headers and hosts (Envoy's `present_match`).
 */

/** How a matcher reads `*` alone, and whether it ignores case (hosts). */
export interface StringMatcherOptions {
  /** `*` matches an empty value too (header presence). */
  readonly starMatchesEmpty?: boolean;
  /** Compare lowercase (the value tested must already be lowercase). */
  readonly ignoreCase?: boolean;
}

/** A field's values compiled: exact ones in a Set, prefixes and suffixes in arrays. */
export class StringMatcher {
  private readonly exact: ReadonlySet<string>;
  private readonly prefixes: readonly string[];
  private readonly suffixes: readonly string[];
  /** `*` was among the values. */
  private readonly star: boolean;
  private readonly starMatchesEmpty: boolean;

  constructor(values: readonly string[], opts: StringMatcherOptions = {}) {
    const exact = new Set<string>();
    const prefixes: string[] = [];
    const suffixes: string[] = [];
    let star = false;
    for (const raw of values) {
      const v = opts.ignoreCase === true ? raw.toLowerCase() : raw;
      if (v === '*') star = true;
      else if (v.startsWith('*')) suffixes.push(v.slice(1));
      else if (v.endsWith('*')) prefixes.push(v.slice(0, -1));
      else exact.add(v);
    }
    this.exact = exact;
    this.prefixes = prefixes;
    this.suffixes = suffixes;
    this.star = star;
    this.starMatchesEmpty = opts.starMatchesEmpty === true;
  }

  /** True when `value` matches one of the values. */
  test(value: string): boolean {
    if (this.star && (value.length > 0 || this.starMatchesEmpty)) return true;
    if (this.exact.has(value)) return true;
    const prefixes = this.prefixes;
    for (let i = 0; i < prefixes.length; i++) if (value.startsWith(prefixes[i] as string)) return true;
    const suffixes = this.suffixes;
    for (let i = 0; i < suffixes.length; i++) if (value.endsWith(suffixes[i] as string)) return true;
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Paths.

/**
 * Characters `{*}` and `{**}` match (Envoy's uri_template `kLiteral`: RFC 3986 pchar without
 * `*` and `=`; `{**}` adds `/`). A path with anything else there (a space, a quote, non-ASCII)
 * does not match the template, as in Envoy.
 */
const GLOB_CHAR = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()+,;:@") GLOB_CHAR[c.charCodeAt(0)] = 1;
const SLASH = 0x2f;

function isGlobChar(code: number): boolean {
  return code < 128 && GLOB_CHAR[code] === 1;
}

/**
 * A path template (`/a/{*}/b/{**}`): literal text (slashes included), then at most one `{*}` per
 * segment and one last `{**}`. Compiled like Envoy's uri_template: `{*}` is one non-empty
 * segment, `{**}` any run of segment characters and `/` (empty too), and the literal after it,
 * if any, must end the path.
 */
export class PathTemplate {
  /** Literal text before each operator, then the text after the last one. */
  private readonly literals: readonly string[];
  /** 1 for `{*}`, 2 for `{**}`, one per operator. */
  private readonly ops: readonly number[];

  constructor(template: string) {
    const literals: string[] = [];
    const ops: number[] = [];
    let lit = '';
    const segments = template.split('/');
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i] as string;
      if (i > 0) lit += '/';
      if (segment === '{*}' || segment === '{**}') {
        literals.push(lit);
        ops.push(segment === '{*}' ? 1 : 2);
        lit = '';
      } else {
        lit += segment;
      }
    }
    literals.push(lit);
    this.literals = literals;
    this.ops = ops;
  }

  /** True when the whole `path` (no query) matches. */
  test(path: string): boolean {
    const literals = this.literals;
    const ops = this.ops;
    let pos = 0;
    for (let i = 0; i < ops.length; i++) {
      const lit = literals[i] as string;
      if (!path.startsWith(lit, pos)) return false;
      pos += lit.length;
      if (ops[i] === 2) return anyTail(path, pos, literals[i + 1] as string);
      const start = pos;
      while (pos < path.length && isGlobChar(path.charCodeAt(pos))) pos++;
      if (pos === start) return false;
    }
    const last = literals[ops.length] as string;
    return path.length === pos + last.length && path.startsWith(last, pos);
  }
}

/** `{**}` at `from`, then `tail` to the end: the text between is glob characters and `/`. */
function anyTail(path: string, from: number, tail: string): boolean {
  const end = path.length - tail.length;
  if (end < from || !path.endsWith(tail)) return false;
  for (let i = from; i < end; i++) {
    const code = path.charCodeAt(i);
    if (code !== SLASH && !isGlobChar(code)) return false;
  }
  return true;
}

/** `paths` / `notPaths`: wildcard values and templates. */
export class PathMatcher {
  private readonly strings: StringMatcher;
  private readonly templates: readonly PathTemplate[];

  constructor(values: readonly string[]) {
    const plain: string[] = [];
    const templates: PathTemplate[] = [];
    for (const v of values) {
      if (v.includes('{')) templates.push(new PathTemplate(v));
      else plain.push(v);
    }
    this.strings = new StringMatcher(plain);
    this.templates = templates;
  }

  /** True when `path` (already without its query, see {@link matchedPath}) matches a value. */
  test(path: string): boolean {
    if (this.strings.test(path)) return true;
    const templates = this.templates;
    for (let i = 0; i < templates.length; i++) if ((templates[i] as PathTemplate).test(path)) return true;
    return false;
  }
}

/**
 * The path a rule compares: the request target without its query and fragment, an absolute-form
 * target (`http://h/x`) reduced to its path, and dot segments removed (RFC 3986 5.2.4), so
 * `/public/../admin` is compared as the `/admin` the application will read (Envoy normalizes
 * the same way before its RBAC filter). Returns `target` itself when nothing changes.
 */
export function matchedPath(target: string): string {
  let path = target;
  const q = path.indexOf('?');
  if (q !== -1) path = path.slice(0, q);
  const h = path.indexOf('#');
  if (h !== -1) path = path.slice(0, h);
  if (path.length > 0 && path.charCodeAt(0) !== SLASH) {
    const scheme = path.indexOf('://');
    if (scheme > 0) {
      const slash = path.indexOf('/', scheme + 3);
      path = slash === -1 ? '/' : path.slice(slash);
    }
  }
  return path.includes('/.') ? removeDotSegments(path) : path;
}

/** RFC 3986 5.2.4 on an absolute path (`/a/./b/../c` is `/a/c`); `..` never climbs above `/`. */
function removeDotSegments(path: string): string {
  const input = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < input.length; i++) {
    const seg = input[i] as string;
    const last = i === input.length - 1;
    if (seg === '.' || seg === '..') {
      if (seg === '..') out.pop();
      if (last) out.push('');
    } else {
      out.push(seg);
    }
  }
  return `/${out.join('/')}`;
}

// ---------------------------------------------------------------------------------------------
// Hosts and principals.

/**
 * A `Host` / `:authority` without its port (`a.example:8080` is `a.example`, `[fd00::1]:80` is
 * `[fd00::1]`), or the host itself when it has none. Hosts are compared with and without it.
 */
export function hostWithoutPort(host: string): string {
  const colon = host.lastIndexOf(':');
  if (colon === -1 || colon === host.length - 1) return host;
  for (let i = colon + 1; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return host;
  }
  if (host.charCodeAt(0) === 0x5b /* [ */) return host.charCodeAt(colon - 1) === 0x5d /* ] */ ? host.slice(0, colon) : host;
  return host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

const SPIFFE = 'spiffe://';

/** A SPIFFE ID as Istio's principals are written: without `spiffe://`. */
export function principalOf(spiffeId: string): string {
  return spiffeId.startsWith(SPIFFE) ? spiffeId.slice(SPIFFE.length) : spiffeId;
}

/**
 * The namespace of a principal (`td/ns/<namespace>/sa/<account>`), as Istio derives
 * `source.namespace` and `namespaces` from the peer's identity; undefined when it has none.
 */
export function namespaceOf(principal: string): string | undefined {
  const slash = principal.indexOf('/');
  if (slash === -1 || !principal.startsWith('/ns/', slash)) return undefined;
  const start = slash + 4;
  const end = principal.indexOf('/', start);
  if (end === start) return undefined;
  return end === -1 ? principal.slice(start) : principal.slice(start, end);
}
