/**
 * Fields shared by every certificate the CA makes: serial numbers and validity windows.
 */
import { randomBytes } from 'node:crypto';

/**
 * notBefore is set this far in the past: a peer whose clock runs a little behind the CA's
 * must not see a fresh certificate as "not yet valid". Five minutes covers NTP-synced hosts
 * and a VM resumed from suspend, and is what most CAs use.
 */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;

/** Serial size: 128 random bits, well past the 64 bits CA/B Forum rules ask for. */
const SERIAL_BYTES = 16;

/**
 * A random positive 128-bit serial as forge wants it (hex of the DER INTEGER content): a
 * leading 00 byte when the top bit is set, so the integer stays positive, and never a leading
 * zero byte otherwise, so the encoding stays minimal.
 */
export function randomSerialHex(): string {
  // Each draw fails only when the first byte is zero (1 in 256); 16 draws all failing is
  // 2^-128, and then the last draw's zero byte is replaced.
  let bytes = randomBytes(SERIAL_BYTES);
  for (let i = 0; i < 16 && bytes[0] === 0; i++) bytes = randomBytes(SERIAL_BYTES);
  if (bytes[0] === 0) bytes[0] = 1;
  const hex = bytes.toString('hex');
  return (bytes[0] ?? 0) >= 0x80 ? `00${hex}` : hex;
}

/** The validity window of a certificate issued at `now` for `ttlMs`, capped at `maxNotAfter`. */
export function validity(now: Date, ttlMs: number, maxNotAfter?: Date): { notBefore: Date; notAfter: Date } {
  const notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  let notAfter = new Date(now.getTime() + ttlMs);
  if (maxNotAfter !== undefined && notAfter > maxNotAfter) notAfter = new Date(maxNotAfter.getTime());
  // X.509 times have whole seconds; trimming here keeps the returned dates equal to the cert's.
  notBefore.setMilliseconds(0);
  notAfter.setMilliseconds(0);
  return { notBefore, notAfter };
}
