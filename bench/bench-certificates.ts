/**
 * Certificates for the HAProxy pair and the TLS probe, issued by the lab's own mesh CA
 * (`<lab>/state/ca`, created by the first agent), with the same profile as the agents'
 * workload certificates: RSA 2048, a SPIFFE ID as the only subjectAltName, 24 h.
 *
 * @module
 */

import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CertificateAuthority } from '../src/ca/authority.js';
import { createCsr } from '../src/mesh/x509.js';

/** The key size of meshlet's workload certificates (node-forge only does RSA). */
const RSA_BITS = 2048;

/** Files of one issued identity. */
export interface IssuedFiles {
  readonly identity: string;
  /** Certificate chain, leaf first. */
  readonly certFile: string;
  readonly keyFile: string;
  /** Chain then key in one file, the form HAProxy's `crt` takes. */
  readonly combinedFile: string;
}

/** The mesh CA's bundle and the identities issued for the bench. */
export interface BenchCertificates {
  readonly caFile: string;
  readonly issued: Readonly<Record<string, IssuedFiles>>;
}

/**
 * Loads the lab's CA from `stateDir/ca` (it exists once an agent has started) and issues one
 * certificate per identity into `outDir` (mode 0600 for keys).
 *
 * @param identities - name -> SPIFFE ID
 */
export async function issueBenchCertificates(
  stateDir: string,
  outDir: string,
  identities: Readonly<Record<string, string>>,
  logger: Logger,
): Promise<BenchCertificates> {
  const ca = await CertificateAuthority.loadOrCreate({ dir: join(stateDir, 'ca'), trustDomain: 'cluster.local', logger });
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const caFile = join(outDir, 'ca.crt');
  writeFileSync(caFile, ca.trustBundlePem);
  const issued: Record<string, IssuedFiles> = {};
  for (const [name, identity] of Object.entries(identities)) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: RSA_BITS });
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const { chainPem } = ca.sign(createCsr({ identity, privateKeyPem: keyPem }), { identity });
    const files: IssuedFiles = {
      identity,
      certFile: join(outDir, `${name}.crt`),
      keyFile: join(outDir, `${name}.key`),
      combinedFile: join(outDir, `${name}.pem`),
    };
    writeFileSync(files.certFile, chainPem);
    writeFileSync(files.keyFile, keyPem, { mode: 0o600 });
    writeFileSync(files.combinedFile, `${chainPem.trimEnd()}\n${keyPem}`, { mode: 0o600 });
    issued[name] = files;
  }
  return { caFile, issued };
}
