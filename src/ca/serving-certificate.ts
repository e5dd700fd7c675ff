/**
 * The controller's own TLS serving certificate, issued by the mesh CA so agents verify the
 * controller with the trust bundle they already hold, by its SPIFFE ID.
 */
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { spiffeId } from '../mesh/identity.js';
import { MIN_RSA_BITS } from '../mesh/x509.js';
import type { CertificateAuthority } from './authority.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Where the controller runs, in Kubernetes and in its SPIFFE ID. */
export const CONTROLLER_NAMESPACE = 'meshlet-system';
export const CONTROLLER_SERVICE_ACCOUNT = 'meshlet-controller';

/** The controller's SPIFFE ID: `spiffe://<td>/ns/meshlet-system/sa/meshlet-controller`. */
export function controllerIdentity(trustDomain: string): string {
  return spiffeId(trustDomain, CONTROLLER_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT);
}

/** What to issue. */
export interface ServingCertificateOptions {
  /** The server's SPIFFE ID, usually {@link controllerIdentity}. */
  readonly identity: string;
  /** Names clients dial, e.g. `meshlet-controller.meshlet-system.svc`. */
  readonly dnsNames?: readonly string[] | undefined;
  /** Addresses clients dial, e.g. the controller's node IP on a systemd host. */
  readonly ipAddresses?: readonly string[] | undefined;
  /** Lifetime; default 24 h, like workload certificates. Renew at half-life. */
  readonly ttlSeconds?: number | undefined;
}

/** A serving key and certificate, ready for `tls.createServer` / grpc `ServerCredentials`. */
export interface ServingCertificate {
  /** The leaf alone. */
  readonly certPem: string;
  /** The private key, PKCS#8 PEM. Made here, never written anywhere by this function. */
  readonly keyPem: string;
  /** The leaf, then any intermediates: what the server presents (`cert`). */
  readonly chainPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * Generates an RSA key with Node's crypto and has `ca` issue a serving certificate for it
 * (extKeyUsage serverAuth; SANs: the SPIFFE ID, the DNS names, the IP addresses). Throws
 * MESHLET_ERR_CERT for an identity outside the CA's trust domain, a bad name or a bad TTL.
 */
export async function issueServingCertificate(ca: CertificateAuthority, opts: ServingCertificateOptions): Promise<ServingCertificate> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: MIN_RSA_BITS,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const issued = ca.signServer(publicKey, {
    identity: opts.identity,
    dnsNames: opts.dnsNames ?? [],
    ipAddresses: opts.ipAddresses ?? [],
    ttlSeconds: opts.ttlSeconds,
  });
  return { certPem: issued.certificatePem, keyPem: privateKey, chainPem: issued.chainPem, notBefore: issued.notBefore, notAfter: issued.notAfter };
}
