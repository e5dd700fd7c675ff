/**
 * `/ui/panels.js`: each panel drawn from what its endpoint answered (plain functions of the
 * JSON, into the panel's body). Colours: `ok`, `warn` (a certificate in its last fifth of
 * life, rules not checked), `bad` (not ready, expired or nearly, drift, a denial).
 */
export const PANELS_JS = String.raw`
import { badge, bytes, clock, el, fill, seconds, sparkline, table } from '/ui/dom.js';

/** At most this many rows in a table (the page stays light on a node with thousands of workloads). */
const MAX_ROWS = 200;
/** A certificate is 'bad' with less than this left, whatever its lifetime. */
const CERT_BAD_SECONDS = 600;

export function health(ready, err) {
  if (err !== undefined) return fill('health', el('p', { class: 'bad' }, 'unreachable: ' + err.message));
  const blockers = ready.pending || [];
  fill('health',
    el('p', {}, ready.ready ? badge('ready', 'ok') : badge('not ready', 'bad'), ' snapshot version ', el('code', {}, String(ready.version))),
    blockers.length === 0 ? el('p', { class: 'muted' }, 'no readiness blockers') : el('div', {}, el('p', {}, 'waiting for:'), el('ul', {}, ...blockers.map((b) => el('li', { class: 'bad' }, String(b))))));
}

export function controller(dump, err) {
  if (err !== undefined) return fill('controller', el('p', { class: 'bad' }, err.message));
  const c = dump.controller;
  const rows = [
    ['mode', dump.mode],
    ['agent version', dump.agentVersion === null ? '-' : dump.agentVersion],
    ['snapshot', String(dump.version) + (dump.ageSeconds === null ? ' (none applied)' : ', applied ' + seconds(dump.ageSeconds) + ' ago')],
    ['worker processes', String((dump.workers || []).length)],
  ];
  const items = rows.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v)));
  if (c !== undefined) {
    items.splice(1, 0,
      el('tr', {}, el('th', {}, 'controller'), el('td', {}, c.address)),
      el('tr', {}, el('th', {}, 'connection'), el('td', {}, c.connected ? badge('connected', 'ok') : badge('disconnected', 'bad'))));
    if (c.lastError) items.push(el('tr', {}, el('th', {}, 'last error'), el('td', { class: 'bad' }, c.lastError)));
  }
  fill('controller', el('table', {}, el('tbody', {}, ...items)));
  const node = dump.snapshot && typeof dump.snapshot.node === 'string' ? dump.snapshot.node : '';
  document.getElementById('node-name').textContent = node === '' ? '' : 'node ' + node;
}

export function drift(ipt, err) {
  if (err !== undefined) return fill('drift', el('p', { class: 'bad' }, err.message));
  if (!ipt.managed) return fill('drift', el('p', { class: 'muted' }, 'this agent does not manage capture rules'));
  const detail = ipt.detail ? el('pre', {}, JSON.stringify(ipt.detail, null, 1).slice(0, 4000)) : null;
  fill('drift', el('p', {}, ipt.inSync ? badge('in sync', 'ok') : badge('drift', 'bad'), ' checked ' + clock(Date.now())), ipt.inSync ? null : detail);
}

/** 'ok', 'warn' or 'bad' for a certificate row of /certs. */
export function certClass(cert) {
  const life = (Date.parse(cert.notAfter) - Date.parse(cert.notBefore)) / 1000;
  if (cert.secondsLeft < CERT_BAD_SECONDS) return 'bad';
  return cert.secondsLeft < life / 5 ? 'warn' : 'ok';
}

export function workloads(list, certs, err) {
  if (err !== undefined) return fill('workloads', el('p', { class: 'bad' }, err.message));
  learnWorkloads(list);
  const byIdentity = new Map((certs || []).map((c) => [c.identity, c]));
  const sorted = [...list].sort((a, b) => Number(b.local) - Number(a.local) || a.uid.localeCompare(b.uid));
  const cert = (w) => byIdentity.get(w.identity);
  const local = list.filter((w) => w.local).length;
  fill('workloads',
    el('p', { class: 'muted' }, local + ' on this node, ' + (list.length - local) + ' elsewhere; certificates are held for local workloads'),
    table([
      ['workload', (w) => w.uid],
      ['where', (w) => (w.local ? 'this node' : w.node)],
      ['addresses', (w) => w.addresses],
      ['identity', (w) => w.identity],
      ['mTLS', (w) => w.tlsMode],
      ['certificate expires', (w) => (cert(w) === undefined ? '' : new Date(cert(w).notAfter).toLocaleString())],
      ['left', (w) => (cert(w) === undefined ? '' : seconds(cert(w).secondsLeft)), (w) => (cert(w) === undefined ? undefined : certClass(cert(w)))],
    ], sorted, MAX_ROWS));
}

export function connections(rows, err) {
  if (err !== undefined) return fill('connections', el('p', { class: 'bad' }, err.message));
  if (rows.length === 0) return fill('connections', el('p', { class: 'muted' }, 'no open connection'));
  fill('connections', table([
    ['direction', (r) => r.direction],
    ['source', (r) => r.sourceWorkload || workloadAt(r.source) || r.source],
    ['source identity', (r) => r.sourceIdentity],
    ['destination', (r) => r.destinationWorkload || workloadAt(r.destination) || r.destination],
    ['service', (r) => r.service],
    ['mode', (r) => r.mode],
    ['security', (r) => r.securityPolicy],
    ['sent', (r) => bytes(r.bytesSent)],
    ['received', (r) => bytes(r.bytesReceived)],
    ['age', (r) => seconds(r.ageSeconds)],
  ], rows, MAX_ROWS));
}

/** Workload names by address, from the last /workloads answer. */
let byAddress = new Map();

function hostOf(address) {
  const a = String(address);
  const colon = a.lastIndexOf(':');
  const host = colon > 0 && a.indexOf(':') === colon ? a.slice(0, colon) : a.replace(/^\[(.*)\]:\d+$/, '$1');
  return host;
}

/** Learns the workloads' addresses (from /workloads) for {@link workloadAt}. */
export function learnWorkloads(list) {
  byAddress = new Map(list.flatMap((w) => String(w.addresses).split(',').filter((a) => a !== '').map((a) => [a, w.uid])));
}

/** The workload at an address ('ip:port', '[ipv6]:port' or 'ip'), if the snapshot has one. */
export function workloadAt(address) {
  return address ? byAddress.get(hostOf(address)) : undefined;
}

/**
 * Names the sides of an event the agent reported by address only (a refused plaintext
 * connection is refused before its workload is looked up), from the snapshot's workloads.
 */
export function nameSides(e) {
  if (!e.src_workload && workloadAt(e.src) !== undefined) e.src_workload = workloadAt(e.src);
  if (!e.dst_workload && workloadAt(e.dst) !== undefined) e.dst_workload = workloadAt(e.dst);
  return e;
}

/** A side of an event: its workload, else its identity (an inbound tunnel knows the peer by it), else its address. */
function who(e, side) {
  return e[side + '_workload'] || e[side + '_identity'] || e[side] || '';
}

function detail(e) {
  if (e.type === 'request') return (e.method || '') + ' ' + (e.authority || '') + (e.path || '') + ' -> ' + (e.status === undefined ? '-' : e.status);
  if (e.type === 'connection.close') return bytes(Number(e.bytes_sent) || 0) + ' / ' + bytes(Number(e.bytes_received) || 0) + ' in ' + e.duration_ms + ' ms';
  return '';
}

function outcomeClass(e) {
  if (e.outcome === undefined) return undefined;
  return e.outcome === 'ok' ? 'ok' : 'bad';
}

/** The live feed: newest first. */
export function feed(events) {
  if (events.length === 0) return fill('feed', el('p', { class: 'muted' }, 'no traffic seen since this page opened'));
  fill('feed', table([
    ['time', (e) => clock(e.time)],
    ['event', (e) => e.type],
    ['direction', (e) => e.direction || e.reporter || ''],
    ['source', (e) => who(e, 'src')],
    ['destination', (e) => who(e, 'dst')],
    ['service', (e) => e.service || ''],
    ['security', (e) => e.security_policy || ''],
    ['outcome', (e) => e.outcome || 'open', outcomeClass],
    ['flags', (e) => (e.response_flags && e.response_flags !== '-' ? e.response_flags : '')],
    ['detail', detail],
  ], [...events].reverse()));
}

export function denials(events) {
  if (events.length === 0) return fill('denials', el('p', { class: 'muted' }, 'no denial seen since this page opened'));
  fill('denials', table([
    ['time', (e) => clock(e.time)],
    ['source', (e) => who(e, 'src')],
    ['identity', (e) => e.src_identity || 'none (plaintext)'],
    ['destination', (e) => who(e, 'dst')],
    ['policy', (e) => e.authz_policy || ''],
    ['why', (e) => e.authz_reason || e.reason || '', () => 'bad'],
  ], [...events].reverse()));
}

function ms(v) { return v === undefined ? '-' : v.toFixed(v < 10 ? 1 : 0) + ' ms'; }

export function signals(rows, overflow) {
  if (rows.length === 0) return fill('signals', el('p', { class: 'muted' }, 'no finished connection or request yet'));
  const errClass = (r) => (r.errorShare === 0 ? 'ok' : r.errorShare < 0.05 ? 'warn' : 'bad');
  fill('signals', table([
    ['workload', (r) => r.workload],
    ['side', (r) => r.side],
    ['of', (r) => r.kind],
    ['rate (1 min)', (r) => r.rate.toFixed(2) + ' /s'],
    ['errors (1 min)', (r) => (100 * r.errorShare).toFixed(1) + ' %', errClass],
    ['seen (5 min)', (r) => r.total + ', ' + r.failed + ' failed', (r) => (r.failed === 0 ? undefined : 'bad')],
    ['p50 (5 min)', (r) => ms(r.p50)],
    ['p99 (5 min)', (r) => ms(r.p99)],
    ['last 5 min (blue: all, red: errors)', (r) => sparkline([{ values: r.counts, cls: 'rate' }, { values: r.errors, cls: 'errors' }], 150, 24)],
  ], rows), overflow > 0 ? el('p', { class: 'warn' }, overflow + ' events not counted: too many rows') : null);
}
`;
