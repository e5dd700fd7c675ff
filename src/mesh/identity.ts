/**
 * SPIFFE identities: `spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>`.
 * Pure string functions; the certificate side is in `x509.ts`.
 */
import { MeshletError } from './errors.js';

/** A parsed workload identity. */
export interface SpiffeId {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

const SCHEME = 'spiffe://';
/** SPIFFE trust domain: lowercase letters, digits, '.', '-', '_' (SPIFFE ID spec, 2.1). */
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
/** SPIFFE path segment characters (SPIFFE ID spec, 2.2). */
const SEGMENT = /^[A-Za-z0-9._-]+$/;
/** The SPIFFE spec caps a whole ID at 2048 bytes; trust domains at 255. */
const MAX_TRUST_DOMAIN = 255;
const MAX_ID = 2048;

/** True for a valid SPIFFE trust domain name such as `cluster.local`. */
export function isValidTrustDomain(trustDomain: string): boolean {
  return trustDomain.length <= MAX_TRUST_DOMAIN && TRUST_DOMAIN.test(trustDomain);
}

function isSegment(value: string): boolean {
  return SEGMENT.test(value) && value !== '.' && value !== '..';
}

/**
 * The SPIFFE ID of a service account. Throws MeshletError MESHLET_ERR_CERT when a part would
 * make an invalid ID (the parts come from validated objects, so this means a caller bug).
 */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  if (!isValidTrustDomain(trustDomain)) {
    throw new MeshletError('MESHLET_ERR_CERT', `invalid SPIFFE trust domain ${JSON.stringify(trustDomain)}`);
  }
  for (const [what, value] of [['namespace', namespace], ['service account', serviceAccount]] as const) {
    if (!isSegment(value)) throw new MeshletError('MESHLET_ERR_CERT', `invalid ${what} ${JSON.stringify(value)} for a SPIFFE ID`);
  }
  return `${SCHEME}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/**
 * Parses a workload SPIFFE ID. Throws MeshletError MESHLET_ERR_CERT naming the bad value when it
 * is not exactly `spiffe://<td>/ns/<ns>/sa/<sa>`.
 */
export function parseSpiffeId(uri: string): SpiffeId {
  const bad = (why: string): MeshletError =>
    new MeshletError('MESHLET_ERR_CERT', `invalid SPIFFE ID ${JSON.stringify(uri.slice(0, 300))}: ${why}`);
  if (uri.length > MAX_ID) throw bad(`longer than ${MAX_ID} characters`);
  if (!uri.startsWith(SCHEME)) throw bad('must start with spiffe://');
  const rest = uri.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  if (!isValidTrustDomain(trustDomain)) throw bad('the trust domain must be lowercase letters, digits, ".", "-", "_"');
  const parts = slash === -1 ? [] : rest.slice(slash + 1).split('/');
  const [ns, namespace, sa, serviceAccount] = parts;
  if (parts.length !== 4 || ns !== 'ns' || sa !== 'sa' || namespace === undefined || serviceAccount === undefined) {
    throw bad('the path must be /ns/<namespace>/sa/<serviceaccount>');
  }
  if (!isSegment(namespace) || !isSegment(serviceAccount)) throw bad('a path segment has characters outside [A-Za-z0-9._-]');
  return { trustDomain, namespace, serviceAccount };
}

/**
 * The SPIFFE IDs (URI SANs starting with `spiffe://`) in a Node.js `subjectaltname` string,
 * such as `URI:spiffe://cluster.local/ns/a/sa/b, DNS:x`. Node quotes a value as a JSON string
 * when it holds a separator or other special characters (`URI:"spiffe://x, DNS:y"`); such a
 * value is one name, never split, so a crafted SAN cannot smuggle in a second identity.
 */
export function spiffeIdsFromSubjectAltName(san: string): string[] {
  const ids: string[] = [];
  for (const { type, value } of splitSubjectAltName(san)) {
    if (type === 'URI' && value.startsWith(SCHEME)) ids.push(value);
  }
  return ids;
}

/** Splits a Node.js `subjectaltname` string into typed entries, honouring JSON-quoted values. */
function splitSubjectAltName(san: string): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = [];
  let pos = 0;
  // Each pass consumes at least one character, so the loop ends within san.length passes.
  while (pos < san.length) {
    const colon = san.indexOf(':', pos);
    if (colon === -1) break;
    const type = san.slice(pos, colon).trim();
    let value: string;
    let end: number;
    if (san[colon + 1] === '"') {
      end = quotedEnd(san, colon + 1);
      if (end === -1) break; // an unterminated quote: trust nothing after it
      try {
        value = String(JSON.parse(san.slice(colon + 1, end + 1)));
      } catch {
        break;
      }
      end += 1;
    } else {
      const sep = san.indexOf(', ', colon + 1);
      end = sep === -1 ? san.length : sep;
      value = san.slice(colon + 1, end);
    }
    out.push({ type, value });
    const next = san.indexOf(', ', end);
    if (next === -1) break;
    pos = next + 2;
  }
  return out;
}

/** Index of the closing quote of a JSON string starting at `start`, or -1. */
function quotedEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i += 1;
    else if (text[i] === '"') return i;
  }
  return -1;
}
