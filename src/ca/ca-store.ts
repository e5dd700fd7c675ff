/**
 * Where the CA keeps its root certificate and key. The file store is the first implementation;
 * a Kubernetes Secret store (create-if-absent, 409 means someone else won) is the next one.
 */

/** A CA certificate and its private key, both PEM. */
export interface CaMaterial {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/** Storage for the CA material, safe for several processes starting at once. */
export interface CaStore {
  /** Where the material lives, for logs (`/var/lib/meshlet/ca`). */
  readonly location: string;
  /** How errors name the certificate (a file path, a Secret key). */
  readonly certificateName: string;
  /** How errors name the private key. */
  readonly keyName: string;
  /**
   * Returns the stored material, first calling `create` and storing its result when there is
   * none. Race-free across processes: exactly one caller creates, every caller gets the same
   * material. Never replaces existing material, even unreadable material.
   */
  loadOrCreate(create: () => Promise<CaMaterial>): Promise<{ material: CaMaterial; created: boolean }>;
}
