/**
 * The web page's files by URL path, made once at load. The page is plain HTML, CSS and ES
 * modules kept as strings in TypeScript modules, so `tsc` alone ships them in `dist/` (and
 * the image) with no bundler, no copy step and nothing fetched from the internet at run time.
 */
import { PAGE_CSS } from './page-css.js';
import { PAGE_HTML } from './page-html.js';
import { API_JS } from './script-api.js';
import { APP_JS } from './script-app.js';
import { DOM_JS } from './script-dom.js';
import { PANELS_JS } from './script-panels.js';
import { SIGNALS_JS } from './script-signals.js';
import { TAP_JS } from './script-tap.js';

/** A file of the page. */
export interface UiAsset {
  readonly type: string;
  readonly body: Buffer;
}

const HTML = 'text/html; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';

function asset(type: string, text: string): UiAsset {
  return Object.freeze({ type, body: Buffer.from(text, 'utf8') });
}

const page = asset(HTML, PAGE_HTML);

/** The page's scripts, by URL path (each an ES module; tests parse and import them). */
export const UI_SCRIPTS: ReadonlyMap<string, string> = new Map([
  ['/ui/app.js', APP_JS],
  ['/ui/api.js', API_JS],
  ['/ui/dom.js', DOM_JS],
  ['/ui/panels.js', PANELS_JS],
  ['/ui/signals.js', SIGNALS_JS],
  ['/ui/tap.js', TAP_JS],
]);

/** Every file `/ui` serves; `/ui` and `/ui/` are the page. */
export const UI_ASSETS: ReadonlyMap<string, UiAsset> = new Map([
  ['/ui', page],
  ['/ui/', page],
  ['/ui/style.css', asset('text/css; charset=utf-8', PAGE_CSS)],
  ...[...UI_SCRIPTS].map(([path, text]) => [path, asset(JS, text)] as const),
]);
