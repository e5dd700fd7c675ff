/**
 * One HTTP request from inside a lab namespace (`node admin-probe.js METHOD URL [TOKEN_FILE]`);
 * prints JSON {ok, status, body} or {ok: false, error}. With a token file, sends its contents
 * as `Authorization: Bearer` (the admin API's token). Bounded: 5 s.
 */
import { readFileSync } from 'node:fs';

const [method = 'GET', url = '', tokenFile] = process.argv.slice(2);
try {
  const headers: Record<string, string> = tokenFile === undefined ? {} : { authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` };
  const res = await fetch(url, { method, headers, signal: AbortSignal.timeout(5_000) });
  const body = await res.text();
  console.log(JSON.stringify({ ok: true, status: res.status, body: body.slice(0, 20_000) }));
} catch (err) {
  const cause = (err as Error & { cause?: { code?: string } }).cause;
  console.log(JSON.stringify({ ok: false, error: cause?.code ?? (err as Error).message }));
}
