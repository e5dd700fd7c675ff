/**
 * Shared by the authentication tests: a pino logger whose lines the test can read (to check
 * what was logged, the audit lines, and what never was, the tokens), and JWT-shaped tokens.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/** One parsed log line. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

/** A logger at debug level and the lines it wrote (JSON-parsed) and their raw text. */
export function captureLogs(): { logger: Logger; lines: LogLine[]; text: () => string } {
  const raw: string[] = [];
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done): void {
      const text = chunk.toString('utf8');
      raw.push(text);
      for (const l of text.split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  // pino writes synchronously to a plain stream, so lines are visible right after the call.
  return { logger: pino({ level: 'debug' }, sink), lines, text: () => raw.join('') };
}

/** A JWT-shaped token with an `exp` (seconds); nothing here checks its signature. */
export function fakeJwt(sub: string, expSeconds: number): string {
  const part = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'RS256', kid: 'k' })}.${part({ sub, aud: ['meshlet'], exp: expSeconds })}.c2lnbmF0dXJl`;
}
