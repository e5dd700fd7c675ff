/**
 * The keys that encrypt the tunnel server's TLS session tickets. One set per agent, shared by
 * every process serving its tunnel port (a ticket one worker issued is resumed by another),
 * replaced every {@link TICKET_KEY_ROTATION_MS}: a stolen key opens at most the tickets of one
 * period, and tickets live only {@link TLS_TICKET_LIFETIME_S} anyway. A rotation makes the
 * tickets issued under the old key fail over to a full handshake, nothing worse.
 */
import { randomBytes } from 'node:crypto';

/** How often the ticket keys are replaced. */
export const TICKET_KEY_ROTATION_MS = 60 * 60 * 1000;

/** Node's ticket key size: 16 bytes of name, 16 of HMAC key, 16 of AES key. */
export const TICKET_KEY_BYTES = 48;

/** Fresh ticket keys. */
export function newTicketKeys(): Buffer {
  return randomBytes(TICKET_KEY_BYTES);
}

/** The agent's current keys, replaced on a timer; `onRotate` hands new ones to the data path. */
export class TicketKeys {
  private keys = newTicketKeys();
  private readonly timer: NodeJS.Timeout;

  constructor(onRotate: (keys: Buffer) => void, periodMs = TICKET_KEY_ROTATION_MS) {
    this.timer = setInterval(() => {
      this.keys = newTicketKeys();
      onRotate(this.keys);
    }, periodMs);
    this.timer.unref();
  }

  /** The keys in force. */
  get current(): Buffer {
    return this.keys;
  }

  /** Stops rotating. Idempotent. */
  close(): void {
    clearInterval(this.timer);
  }
}
