/**
 * `/ui/dom.js`: building elements. Text goes in with textContent only (never innerHTML), so a
 * workload name or a request path from the traffic can never become markup; charts are SVG
 * elements made one by one.
 */
export const DOM_JS = String.raw`
const SVG = 'http://www.w3.org/2000/svg';

/** An element with attributes ('class', 'title', ...) and children (strings become text). */
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return e;
}

/** Replaces a panel's body (null and undefined nodes are left out). */
export function fill(id, ...nodes) {
  const host = document.querySelector('#' + id + ' .body');
  if (host !== null) host.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined));
}

/**
 * A table: columns are [label, (row) => text or element, (row) => class or undefined];
 * at most 'cap' rows, and a line saying how many were left out.
 */
export function table(columns, rows, cap) {
  const shown = rows.slice(0, cap || rows.length);
  const head = el('tr', {}, ...columns.map(([label]) => el('th', {}, label)));
  const body = shown.map((row) => el('tr', {}, ...columns.map(([, value, cls]) => el('td', { class: cls === undefined ? undefined : cls(row) }, value(row)))));
  const t = el('table', {}, el('thead', {}, head), el('tbody', {}, ...body));
  if (shown.length === rows.length) return t;
  return el('div', {}, t, el('p', { class: 'muted' }, (rows.length - shown.length) + ' more not shown'));
}

export function badge(text, cls) { return el('span', { class: 'badge ' + cls }, text); }

export function clock(ms) { return new Date(ms).toLocaleTimeString(); }

export function seconds(s) {
  if (s < 0) return '-' + seconds(-s);
  if (s < 120) return Math.round(s) + ' s';
  if (s < 7200) return Math.round(s / 60) + ' min';
  if (s < 172800) return (s / 3600).toFixed(1) + ' h';
  return (s / 86400).toFixed(1) + ' d';
}

export function bytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1048576).toFixed(1) + ' MiB';
}

/** A sparkline of one or two series of equal length (counts per bucket), scaled to the largest value. */
export function sparkline(series, width, height) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  for (const s of series) {
    const step = s.values.length > 1 ? width / (s.values.length - 1) : width;
    const points = s.values.map((v, i) => (i * step).toFixed(1) + ',' + (height - 1 - (v / max) * (height - 2)).toFixed(1));
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('class', s.cls);
    line.setAttribute('points', points.join(' '));
    svg.append(line);
  }
  const title = document.createElementNS(SVG, 'title');
  title.textContent = 'per 10 s, peak ' + max;
  svg.append(title);
  return svg;
}
`;
