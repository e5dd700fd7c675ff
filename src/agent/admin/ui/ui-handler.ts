/**
 * `GET /ui` and `/ui/...`: the web page's static files, served to anyone on the node like `/`.
 * They hold no data: the page asks for the admin token, keeps it in the tab's sessionStorage
 * and sends it as `Authorization: Bearer` on each fetch of the JSON endpoints, which keep
 * requiring it. No cookie is ever set, so no other site can make a browser call the admin API
 * with ambient credentials (a cross-site POST /quitquitquit arrives without the header: 401).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { UI_ASSETS } from './ui-assets.js';

/**
 * Headers of every `/ui` answer. The CSP allows only this origin's own files (no inline
 * script or style, no eval, nothing from the internet), no framing (clickjacking), no form
 * posts, no `<base>` rewrites; `nosniff` keeps a browser from running a JSON answer as script.
 */
export const UI_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  // Small files that change with the agent's version: never served stale after an upgrade.
  'cache-control': 'no-store',
});

/** True for the paths {@link serveUi} answers. */
export function isUiPath(pathname: string): boolean {
  return pathname === '/ui' || pathname.startsWith('/ui/');
}

/** Answers a `/ui` request: the file, 404 for an unknown one, 405 for a method but GET or HEAD. */
export function serveUi(req: IncomingMessage, res: ServerResponse, pathname: string): void {
  for (const [name, value] of Object.entries(UI_SECURITY_HEADERS)) res.setHeader(name, value);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end(`${pathname} takes GET only\n`);
    return;
  }
  const asset = UI_ASSETS.get(pathname);
  if (asset === undefined) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`no such file: ${pathname} (the page is at /ui)\n`);
    return;
  }
  res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length });
  res.end(req.method === 'HEAD' ? undefined : asset.body);
}
