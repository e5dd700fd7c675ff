/**
 * Builds operator CA material for tests: roots and intermediates with chosen flaws (not a CA,
 * no keyCertSign, expired, a path length, another issuer), written to a temporary directory.
 */
import { createPrivateKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { randomSerialHex } from '../../../src/ca/certificate-fields.js';
import { forgePublicKey, nodeRsaSigner } from '../../../src/mesh/x509.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** A CA certificate with its key. */
export interface CaCert {
  readonly certPem: string;
  readonly keyPem: string;
  readonly cert: forge.pki.Certificate;
  readonly key: KeyObject;
}

/** What to build; defaults make a valid CA valid for a year from an hour ago. */
export interface CaCertSpec {
  readonly cn: string;
  /** Signed by this CA; self-signed when absent. */
  readonly issuer?: CaCert | undefined;
  /** The key to certify (PKCS#8 PEM); a key pool entry. */
  readonly keyPem: string;
  readonly ca?: boolean;
  readonly keyCertSign?: boolean;
  readonly pathLen?: number;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** A SPIFFE trust-domain URI SAN (`spiffe://<td>`). */
  readonly trustDomain?: string;
}

/** `n` RSA 2048 keys, made in parallel once per test file: key generation is the slow part. */
export async function keyPool(n: number): Promise<string[]> {
  const keys = await Promise.all(
    Array.from({ length: n }, () =>
      generateKeyPairAsync('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      }),
    ),
  );
  return keys.map((k) => k.privateKey);
}

/** Builds one CA certificate to `spec`. */
export function makeCaCert(spec: CaCertSpec): CaCert {
  const key = createPrivateKey(spec.keyPem);
  const cert = forge.pki.createCertificate();
  cert.version = 2;
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = spec.notBefore ?? new Date(Date.now() - 3600_000);
  cert.validity.notAfter = spec.notAfter ?? new Date(Date.now() + 365 * 86_400_000);
  const subject = [{ shortName: 'O', value: 'test org' }, { shortName: 'CN', value: spec.cn }];
  cert.setSubject(subject);
  cert.setIssuer(spec.issuer === undefined ? subject : spec.issuer.cert.subject.attributes);
  cert.publicKey = forgePublicKey(key);
  const basic: Record<string, unknown> = { name: 'basicConstraints', cA: spec.ca ?? true, critical: true };
  if (spec.pathLen !== undefined) basic['pathLenConstraint'] = spec.pathLen;
  const extensions: Record<string, unknown>[] = [
    basic,
    { name: 'keyUsage', keyCertSign: spec.keyCertSign ?? true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ];
  if (spec.trustDomain !== undefined) extensions.push({ name: 'subjectAltName', altNames: [{ type: 6, value: `spiffe://${spec.trustDomain}` }] });
  cert.setExtensions(extensions);
  cert.sign(nodeRsaSigner(spec.issuer?.key ?? key), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: spec.keyPem, cert, key };
}

/** Writes the files `fromFiles` reads; returns their paths. */
export async function writeCaFiles(
  dir: string,
  files: { cert: string; key: string; bundle?: string },
): Promise<{ certFile: string; keyFile: string; bundleFile?: string }> {
  const certFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'ca.key');
  await writeFile(certFile, files.cert);
  await writeFile(keyFile, files.key, { mode: 0o600 });
  if (files.bundle === undefined) return { certFile, keyFile };
  const bundleFile = join(dir, 'roots.pem');
  await writeFile(bundleFile, files.bundle);
  return { certFile, keyFile, bundleFile };
}
