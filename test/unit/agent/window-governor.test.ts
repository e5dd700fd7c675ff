/**
 * Receive windows by recent behaviour (issue 18): a tunnel session that is bulk while another
 * session is active gets one stream window; a session alone, or light, keeps (or gets back) the
 * full window. The decision is pure; the governor reads each session's socket counter per tick.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import type { Http2Session } from 'node:http2';
import { BULK_BYTES_PER_SECOND, CONTENDED_WINDOW_BYTES, decideWindows, WindowGovernor } from '../../../src/agent/proxy/tunnel/window-governor.js';
import { SESSION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from '../../../src/agent/proxy/tunnel/settings.js';

const TICK = 500;
const BULK = (BULK_BYTES_PER_SECOND * TICK) / 1000;

t.test('the contended window is one stream window, below the full one', async (t) => {
  t.equal(CONTENDED_WINDOW_BYTES, STREAM_WINDOW_BYTES);
  t.equal(CONTENDED_WINDOW_BYTES < SESSION_WINDOW_BYTES, true);
});

t.test('decideWindows: only a bulk session beside an active one is shrunk', async (t) => {
  t.same(decideWindows([{ bytes: BULK * 10 }], TICK), [SESSION_WINDOW_BYTES], 'bulk but alone: the full window (single-flow throughput)');
  t.same(decideWindows([{ bytes: BULK * 10 }, { bytes: 0 }], TICK), [SESSION_WINDOW_BYTES, SESSION_WINDOW_BYTES], 'the other session idle: no contention');
  t.same(decideWindows([{ bytes: BULK * 10 }, { bytes: 1200 }], TICK), [CONTENDED_WINDOW_BYTES, SESSION_WINDOW_BYTES], 'a quiet neighbour: the bulk one shrinks');
  t.same(decideWindows([{ bytes: BULK - 1 }, { bytes: 1200 }], TICK), [SESSION_WINDOW_BYTES, SESSION_WINDOW_BYTES], 'just under the bulk rate');
  t.same(decideWindows([{ bytes: BULK }, { bytes: BULK }], TICK), [CONTENDED_WINDOW_BYTES, CONTENDED_WINDOW_BYTES], 'two bulk sessions share alike');
  t.same(decideWindows([], TICK), []);
});

/** A session as the governor sees it: a socket byte counter, the windows it was set to, a close. */
class FakeSession extends EventEmitter {
  socket = { bytesRead: 0 };
  destroyed = false;
  closed = false;
  readonly windows: number[] = [];
  setLocalWindowSize(n: number): void {
    this.windows.push(n);
  }
}

function session(): FakeSession & Http2Session {
  return new FakeSession() as FakeSession & Http2Session;
}

t.test('the governor shrinks under contention and gives the window back when alone', async (t) => {
  const g = new WindowGovernor(TICK);
  t.teardown(() => g.close());
  const flood = session();
  const quiet = session();
  g.add(flood);
  g.add(quiet);
  flood.socket.bytesRead += BULK * 4;
  quiet.socket.bytesRead += 1200;
  g.tick();
  t.same((flood as FakeSession).windows, [CONTENDED_WINDOW_BYTES], 'shrunk');
  t.same((quiet as FakeSession).windows, [], 'the quiet one keeps the full window: no call');
  t.equal(g.shrinks, 1);
  flood.socket.bytesRead += BULK * 4;
  quiet.socket.bytesRead += 1200;
  g.tick();
  t.same((flood as FakeSession).windows, [CONTENDED_WINDOW_BYTES], 'still contended: not set again');
  flood.socket.bytesRead += BULK * 4;
  g.tick();
  t.same((flood as FakeSession).windows, [CONTENDED_WINDOW_BYTES, SESSION_WINDOW_BYTES], 'alone again: the full window back');
});

t.test('a closed session is forgotten; a session whose counter cannot be read is never bulk', async (t) => {
  const g = new WindowGovernor(TICK);
  t.teardown(() => g.close());
  const a = session();
  const b = session();
  (b as unknown as { socket: undefined }).socket = undefined;
  g.add(a);
  g.add(b);
  a.socket.bytesRead += BULK * 4;
  b.emit('close');
  g.tick();
  t.same((a as FakeSession).windows, [], 'the other one closed: alone, no shrink');
  const c = session();
  (c as unknown as { socket: { bytesRead: string } }).socket = { bytesRead: 'x' };
  g.add(c);
  a.socket.bytesRead += BULK * 4;
  g.tick();
  t.same((c as FakeSession).windows, [], 'unreadable counter: treated as idle');
  t.same((a as FakeSession).windows, [], 'and it does not count as a neighbour');
});

t.test('a session that throws on the change (closing) is left alone', async (t) => {
  const g = new WindowGovernor(TICK);
  t.teardown(() => g.close());
  const a = session();
  const b = session();
  (a as FakeSession).setLocalWindowSize = () => {
    throw new Error('closing');
  };
  g.add(a);
  g.add(b);
  a.socket.bytesRead += BULK * 4;
  b.socket.bytesRead += 10;
  g.tick();
  t.equal(g.shrinks, 0);
});

t.test('the shrinks are counted in meshlet_tunnel_window_shrinks_total', async (t) => {
  const { Registry } = await import('prom-client');
  const { DataPathMetrics } = await import('../../../src/agent/proxy/data-path-metrics.js');
  const registry = new Registry();
  const metrics = new DataPathMetrics(registry, { istioTcp: false });
  t.teardown(() => metrics.close());
  let shrinks = 0;
  metrics.watch({ openedByDirection: () => ({ outbound: 0, inbound: 0 }), liveConnections: () => [], tunnelSessions: () => 0, windowShrinks: () => shrinks });
  const value = async (): Promise<string | undefined> => (await registry.metrics()).split('\n').find((l) => l.startsWith('meshlet_tunnel_window_shrinks_total '));
  t.equal(await value(), 'meshlet_tunnel_window_shrinks_total 0');
  shrinks = 3;
  t.equal(await value(), 'meshlet_tunnel_window_shrinks_total 3');
  t.equal(await value(), 'meshlet_tunnel_window_shrinks_total 3', 'not counted twice');
});
