/**
 * `/ui/app.js`: the page's entry. Without a token in this tab it shows the login form and
 * fetches nothing; with one, it refreshes the
 * panels on a timer (one round at a time: the next starts after the last answer or timeout)
 * and reads the live tap. A submitted token is tried with one request first; a refused token
 * stops everything and asks again.
 */
export const APP_JS = String.raw`
import { AuthError, clearToken, getJson, setToken, token } from '/ui/api.js';
import { TapFeed } from '/ui/tap.js';
import { Signals } from '/ui/signals.js';
import * as panels from '/ui/panels.js';

/** Cheap views: every 5 s. */
const FAST_MS = 5000;
/** /config_dump carries the whole snapshot and /iptables runs iptables-save: every 15 s. */
const SLOW_EVERY = 3;
/** The feed and the denials keep the last events only. */
const MAX_FEED = 200;
const MAX_DENIALS = 100;
/** Redraw the tap's panels at most this often, whatever the event rate. */
const DRAW_MS = 1000;

let running = false;
/** Each start() is a generation: a late answer of an earlier one (an old token's) is ignored. */
let generation = 0;
let timer;
let round = 0;
let tap;
let drawPending = false;
let feed = [];
let denied = [];
let signals = new Signals();

const $ = (id) => document.getElementById(id);

function status(text, cls) {
  $('status').textContent = text;
  $('status').className = cls || 'muted';
}

function showLogin(message) {
  stop();
  $('panels').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  status('not signed in');
  $('token').focus();
}

function stop() {
  running = false;
  generation++;
  clearTimeout(timer);
  if (tap !== undefined) tap.stop();
  tap = undefined;
}

function onAuth(err) {
  clearToken();
  showLogin(err.message);
}

/** Settles a fetch into [value, error]; an AuthError goes up. */
async function settle(promise) {
  try {
    return [await promise, undefined];
  } catch (err) {
    if (err instanceof AuthError) throw err;
    return [undefined, err];
  }
}

async function refresh(gen) {
  const slow = round % SLOW_EVERY === 0;
  round++;
  const [ready, wl, certs, conns, dump, ipt] = await Promise.all([
    settle(getJson('ready')), settle(getJson('workloads')), settle(getJson('certs')), settle(getJson('connections')),
    slow ? settle(getJson('configDump')) : undefined, slow ? settle(getJson('iptables')) : undefined,
  ]);
  if (gen !== generation) return;
  panels.health(...ready);
  panels.workloads(wl[0] || [], certs[0] || [], wl[1] || certs[1]);
  panels.connections(...conns);
  if (dump !== undefined) panels.controller(...dump);
  if (ipt !== undefined) panels.drift(...ipt);
  status('updated ' + new Date().toLocaleTimeString(), 'muted');
}

async function loop(gen) {
  if (gen !== generation || !running) return;
  try {
    await refresh(gen);
  } catch (err) {
    if (gen !== generation) return;
    if (err instanceof AuthError) return onAuth(err);
    status('refresh failed: ' + err.message, 'bad');
  }
  if (gen === generation && running) timer = setTimeout(() => loop(gen), FAST_MS);
}

function draw() {
  drawPending = false;
  panels.feed(feed);
  panels.denials(denied);
  panels.signals(signals.rows(Date.now()), signals.overflow);
}

function onEvent(e) {
  panels.nameSides(e);
  feed.push(e);
  if (feed.length > MAX_FEED) feed.shift();
  if (e.outcome === 'denied') {
    denied.push(e);
    if (denied.length > MAX_DENIALS) denied.shift();
  }
  signals.add(e);
  if (!drawPending) {
    drawPending = true;
    setTimeout(draw, DRAW_MS);
  }
}

function tapStatus(text, cls) {
  $('tap-status').textContent = '(' + text + ')';
  $('tap-status').className = cls || 'muted';
}

function start() {
  $('login').hidden = true;
  $('panels').hidden = false;
  $('logout').hidden = false;
  feed = [];
  denied = [];
  signals = new Signals();
  draw();
  running = true;
  const gen = ++generation;
  round = 0;
  status('loading');
  tapStatus('connecting');
  tap = new TapFeed(onEvent, tapStatus, onAuth);
  tap.start();
  void loop(gen);
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const value = $('token').value.trim();
  $('token').value = '';
  if (!/^[0-9a-fA-F]{32,}$/.test(value)) return showLogin('an admin token is 64 hexadecimal characters (/run/meshlet/admin-token on the node)');
  setToken(value);
  // One request tries the token before the panels and the tap ask for everything at once: a
  // wrong token costs one refusal, and the form comes back with nothing else still in flight.
  const gen = ++generation;
  status('checking the token');
  try {
    await getJson('workloads');
  } catch (err) {
    if (gen !== generation) return;
    if (err instanceof AuthError) return onAuth(err);
    // Anything else (the agent busy, a network error) shows in the panels once they start.
  }
  if (gen === generation) start();
});
$('logout').addEventListener('click', () => {
  clearToken();
  showLogin('');
});
window.addEventListener('pagehide', stop);
// Back to the page from the browser's history cache: start again (pagehide stopped it).
window.addEventListener('pageshow', (ev) => { if (ev.persisted && token() !== null) start(); });
// Signals' charts move with time even without traffic.
setInterval(() => { if (running && !drawPending) draw(); }, 10000);

if (token() === null) showLogin('');
else start();
`;
