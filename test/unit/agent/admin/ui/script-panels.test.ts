/**
 * The page's panels' pure parts (`/ui/panels.js`), run in Node: a certificate's colour, and
 * naming an event's address-only sides from the snapshot's workloads (IPv4 and IPv6).
 */
import t from 'tap';
import { DOM_JS } from '../../../../../src/agent/admin/ui/script-dom.js';
import { PANELS_JS } from '../../../../../src/agent/admin/ui/script-panels.js';

interface PanelsModule {
  certClass(cert: { notBefore: string; notAfter: string; secondsLeft: number }): string;
  learnWorkloads(list: Array<{ uid: string; addresses: string }>): void;
  workloadAt(address: string | undefined): string | undefined;
  nameSides(e: Record<string, unknown>): Record<string, unknown>;
}

// panels.js imports /ui/dom.js, which only defines functions: served here as a data: URL.
// encodeURIComponent leaves ' alone: escaped too, as the URL sits in a quoted import.
const dom = `data:text/javascript,${encodeURIComponent(DOM_JS).replaceAll("'", '%27')}`;
const source = PANELS_JS.replace("from '/ui/dom.js'", `from '${dom}'`);
t.not(source, PANELS_JS, 'the dom.js import was found');
const m = (await import(`data:text/javascript,${encodeURIComponent(source)}`)) as PanelsModule;

t.test('a certificate is ok, then warn in its last fifth, then bad under 10 minutes', async (t) => {
  const day = { notBefore: '2026-12-07T00:00:00Z', notAfter: '2026-12-08T00:00:00Z' };
  t.equal(m.certClass({ ...day, secondsLeft: 86_000 }), 'ok');
  t.equal(m.certClass({ ...day, secondsLeft: 17_281 }), 'ok', 'just over a fifth of 24 h left');
  t.equal(m.certClass({ ...day, secondsLeft: 17_279 }), 'warn');
  t.equal(m.certClass({ ...day, secondsLeft: 599 }), 'bad');
  t.equal(m.certClass({ ...day, secondsLeft: -5 }), 'bad', 'expired');
  const short = { notBefore: '2026-12-07T00:00:00Z', notAfter: '2026-12-07T00:20:00Z' };
  t.equal(m.certClass({ ...short, secondsLeft: 700 }), 'ok', 'a 20-minute certificate with 11 minutes left');
});

t.test('address-only sides are named from the workloads; named sides are kept', async (t) => {
  m.learnWorkloads([
    { uid: 'Pod/demo/vault', addresses: '10.0.2.11,fd00::11' },
    { uid: 'Pod/demo/client', addresses: '10.0.1.10' },
  ]);
  t.equal(m.workloadAt('10.0.2.11:8080'), 'Pod/demo/vault');
  t.equal(m.workloadAt('[fd00::11]:8080'), 'Pod/demo/vault', 'IPv6 with a port');
  t.equal(m.workloadAt('fd00::11'), 'Pod/demo/vault', 'IPv6 alone');
  t.equal(m.workloadAt('10.0.9.9:80'), undefined, 'not a workload');
  t.equal(m.workloadAt(undefined), undefined);
  const e = m.nameSides({ type: 'connection.close', src: '10.0.9.9:4000', dst: '10.0.2.11:8080', outcome: 'denied' });
  t.equal(e['dst_workload'], 'Pod/demo/vault', 'the destination named');
  t.equal(e['src_workload'], undefined, 'a source outside the mesh stays an address');
  const named = m.nameSides({ type: 'connection.close', src: '10.0.1.10:4000', src_workload: 'Pod/demo/other', dst: '10.0.2.11:8080' });
  t.equal(named['src_workload'], 'Pod/demo/other', 'what the agent said wins');
  m.learnWorkloads([]);
  t.equal(m.workloadAt('10.0.2.11:8080'), undefined, 'a new list replaces the old one');
});
