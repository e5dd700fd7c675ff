/**
 * Shared setup for the CA tests: a temporary CA directory removed on teardown, a silent
 * logger, and workload credentials (an RSA key and a certificate issued for an identity).
 */
import { generateKeyPair } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { createCsr } from '../../../src/mesh/x509.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** A logger that writes nothing. */
export const silentLogger = pino({ level: 'silent' });

/** The minimal part of a tap test this fixture needs. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A fresh empty directory under the OS temp dir, removed when the test ends. */
export async function tempDir(t: Teardown, prefix = 'meshlet-ca-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A CA in a fresh directory. */
export async function newCa(t: Teardown, opts: { trustDomain?: string; now?: () => Date } = {}): Promise<CertificateAuthority> {
  const dir = await tempDir(t);
  return CertificateAuthority.loadOrCreate({
    dir,
    trustDomain: opts.trustDomain ?? 'cluster.local',
    logger: silentLogger,
    now: opts.now,
  });
}

/** A new RSA 2048 private key, PKCS#8 PEM (what the agent makes). */
export async function newKey(): Promise<string> {
  const { privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return privateKey;
}

/** Workload credentials: a key and a certificate chain for `identity`. */
export interface Credentials {
  readonly identity: string;
  readonly keyPem: string;
  readonly chainPem: string;
}

/** Makes a key, a CSR, and has `ca` sign it. */
export async function issue(ca: CertificateAuthority, identity: string, ttlSeconds?: number): Promise<Credentials> {
  const keyPem = await newKey();
  const csr = createCsr({ identity, privateKeyPem: keyPem });
  const { chainPem } = ca.sign(csr, { identity, ttlSeconds });
  return { identity, keyPem, chainPem };
}
