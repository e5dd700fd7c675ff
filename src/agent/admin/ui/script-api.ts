/**
 * `/ui/api.js`: the page's only door to the admin API. The token lives in this tab's
 * sessionStorage (gone when the tab closes, never shared with other sites or tabs) and goes in
 * the `Authorization` header; fetches send no cookies and are bounded in time.
 */
import { UI_DATA_PATHS } from './ui-data-paths.js';

export const API_JS = String.raw`
const PATHS = Object.freeze(${JSON.stringify(UI_DATA_PATHS)});
const KEY = 'meshlet-admin-token';
/** How long one JSON fetch may take: an /iptables check runs iptables-save. */
const FETCH_TIMEOUT_MS = 10000;

export class AuthError extends Error {}

export function token() { return sessionStorage.getItem(KEY); }
export function setToken(value) { sessionStorage.setItem(KEY, value); }
export function clearToken() { sessionStorage.removeItem(KEY); }

function headers() {
  const t = token();
  return t === null ? {} : { authorization: 'Bearer ' + t };
}

async function authCheck(res) {
  if (res.status === 401) throw new AuthError('the agent wants the admin token');
  if (res.status === 403) throw new AuthError('the token does not match the agent\'s (it changes at every agent start)');
  return res;
}

/** GETs a JSON endpoint by name. /ready answers 503 with a body while not ready: that is data. */
export async function getJson(name, query) {
  const res = await authCheck(await fetch(PATHS[name] + (query || ''), {
    headers: headers(), credentials: 'omit', cache: 'no-store', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  }));
  if (!res.ok && name !== 'ready') throw new Error(PATHS[name] + ': HTTP ' + res.status);
  return res.json();
}

/** Opens a streaming GET (the tap); the caller reads res.body and aborts with signal. */
export async function openStream(name, query, signal) {
  return authCheck(await fetch(PATHS[name] + (query || ''), { headers: headers(), credentials: 'omit', cache: 'no-store', signal }));
}
`;
