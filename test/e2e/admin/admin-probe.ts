/**
 * One HTTP request from inside a lab namespace (`node admin-probe.js METHOD URL`); prints
 * JSON {ok, status, body} or {ok: false, error}. Bounded: 5 s.
 */
const [method = 'GET', url = ''] = process.argv.slice(2);
try {
  const res = await fetch(url, { method, signal: AbortSignal.timeout(5_000) });
  const body = await res.text();
  console.log(JSON.stringify({ ok: true, status: res.status, body: body.slice(0, 20_000) }));
} catch (err) {
  const cause = (err as Error & { cause?: { code?: string } }).cause;
  console.log(JSON.stringify({ ok: false, error: cause?.code ?? (err as Error).message }));
}
