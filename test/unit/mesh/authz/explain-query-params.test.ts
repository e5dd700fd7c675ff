/**
 * The explain query as URL parameters (`/policy/explain`) and flags: a round trip, and every
 * parameter a caller can get wrong (unknown, repeated, missing, malformed) refused by name.
 */
import t, { type Test } from 'tap';
import { headersFromArgs, parseHeaderArg, parseMode, parseQueryPort, queryFromParams, queryToParams, type ExplainQuery } from '../../../../src/mesh/authz/explain-query.js';
import { isMeshletError } from '../../../../src/mesh/errors.js';

function usageError(t: Test, fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    t.ok(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'), `MESHLET_ERR_CONFIG_INVALID: ${(err as Error).message}`);
    return (err as Error).message;
  }
  t.fail('no error thrown');
  return '';
}

t.test('a query survives the trip through URL parameters', async (t) => {
  const q: ExplainQuery = {
    source: 'plaintext:10.0.0.1', destination: 'svc/demo/web:80', port: 80, method: 'POST', path: '/a?b=c&d=e#f', host: 'web:8080',
    headers: { 'x-user': 'bob: the builder', 'x-empty': '' }, sni: 'web.example', mode: 'request',
  };
  t.same(queryFromParams(queryToParams(q)), q);
  t.same(queryFromParams(queryToParams({ source: 'a/b', destination: 'c/d' })), { source: 'a/b', destination: 'c/d' });
  t.same(queryFromParams(new URLSearchParams('source=a/b&destination=c/d&format=text')), { source: 'a/b', destination: 'c/d' }, 'format is the admin API\'s own');
});

t.test('parameters a caller can get wrong are refused by name', async (t) => {
  t.match(usageError(t, () => queryFromParams(new URLSearchParams('source=a/b&destination=c/d&methd=GET'))), /^unknown parameter "methd": want source, destination/);
  t.match(usageError(t, () => queryFromParams(new URLSearchParams('source=a/b&source=e/f&destination=c/d'))), /^parameter source: given more than once$/);
  t.match(usageError(t, () => queryFromParams(new URLSearchParams('destination=c/d'))), /source and destination are required/);
  t.match(usageError(t, () => queryFromParams(new URLSearchParams('source=a/b'))), /source and destination are required/);
  t.match(usageError(t, () => queryFromParams(new URLSearchParams('source=a/b&destination=c/d&port=http'))), /^port "http": want a port number 1-65535$/);
  t.match(usageError(t, () => queryFromParams(new URLSearchParams('source=a/b&destination=c/d&mode=fast'))), /^mode "fast": want one of request, connection-http, connection-opaque$/);
  t.match(usageError(t, () => queryFromParams(new URLSearchParams('source=a/b&destination=c/d&header=novalue'))), /^header "novalue": want name:value$/);
  const headers = new URLSearchParams('source=a/b&destination=c/d');
  for (let i = 0; i < 65; i++) headers.append('header', `h${i}:v`);
  t.match(usageError(t, () => queryFromParams(headers)), /headers: 65 given, at most 64/);
});

t.test('ports, headers and modes from text', async (t) => {
  t.equal(parseQueryPort('--port', '8080'), 8080);
  for (const bad of ['0', '65536', '-1', '1e3', ' 80', '123456', '']) t.match(usageError(t, () => parseQueryPort('--port', bad)), /^--port /, JSON.stringify(bad));
  t.same(parseHeaderArg('X-User: bob:1'), ['X-User', 'bob:1']);
  t.match(usageError(t, () => parseHeaderArg(':v')), /want name:value/);
  t.same(headersFromArgs(['A: 1', 'b:2']), { a: '1', b: '2' });
  t.match(usageError(t, () => headersFromArgs(['A: 1', 'a: 2'])), /header a: given twice/);
  t.equal(parseMode('--mode', 'connection-http'), 'connection-http');
});
