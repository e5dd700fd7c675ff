/**
 * Access-log modes (on, off, sample:<ratio>) and the connection table's observer: one line and
 * one observation per closed connection, with the bytes of the counted socket.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { AccessLogSampler, formatAccessLogMode, parseAccessLogMode } from '../../../src/agent/proxy/access-log.js';
import { ConnectionTable, type ConnectionRecord } from '../../../src/agent/proxy/connection-table.js';

function memoryLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

t.test('parseAccessLogMode', async (t) => {
  t.same(parseAccessLogMode('on'), { kind: 'on' });
  t.same(parseAccessLogMode('off'), { kind: 'off' });
  t.same(parseAccessLogMode('sample:0.25'), { kind: 'sample', ratio: 0.25 });
  t.same(parseAccessLogMode('sample:1'), { kind: 'sample', ratio: 1 });
  for (const bad of ['', 'yes', 'sample:', 'sample:0', 'sample:1.5', 'sample:-1', 'sample:abc']) t.type(parseAccessLogMode(bad), 'string', `${bad} refused`);
  t.equal(formatAccessLogMode({ kind: 'sample', ratio: 0.1 }), 'sample:0.1');
});

t.test('a sample keeps every failure and thins successes by the draw', async (t) => {
  let draw = 0.5;
  const s = new AccessLogSampler({ kind: 'sample', ratio: 0.3 }, () => draw);
  t.equal(s.shouldLog('ok'), false, 'draw 0.5 >= 0.3: skipped');
  draw = 0.29;
  t.equal(s.shouldLog('ok'), true, 'draw 0.29 < 0.3: kept');
  draw = 0.99;
  for (const o of ['denied', 'connect_failed', 'no_route', 'tunnel_failed', 'reset', 'drained'] as const) t.equal(s.shouldLog(o), true, `${o} always kept`);
  t.equal(new AccessLogSampler({ kind: 'off' }).shouldLog('denied'), false);
  t.equal(new AccessLogSampler({ kind: 'on' }).shouldLog('ok'), true);
});

/** A stand-in for the counted socket: only its byte counters are read. */
function counted(read: number, written: number): Socket {
  return { bytesRead: read, bytesWritten: written } as unknown as Socket;
}

t.test('the table writes lines per mode and tells the observer once per connection', async (t) => {
  for (const [mode, expected] of [[{ kind: 'on' }, 2], [{ kind: 'off' }, 0], [{ kind: 'sample', ratio: 0.5 }, 1]] as const) {
    const { logger, lines } = memoryLogger();
    const seen: Array<[number, number, number]> = [];
    const table = new ConnectionTable(logger, {
      sampler: new AccessLogSampler(mode, () => 0.9),
      observer: { onClosed: (rec: ConnectionRecord, sent, received) => seen.push([rec.id, sent, received]) },
    });
    const a = table.open('outbound', '198.18.0.1:1000', '198.18.0.2:80', new PassThrough());
    a.counted = counted(100, 7);
    const b = table.open('inbound', '198.18.0.3:1000', '198.18.0.1:80', new PassThrough());
    b.counted = counted(9, 500);
    b.countedFacesDestination = true;
    table.close(a);
    table.close(a, 'upstream_reset');
    table.close(b, 'policy_denied', 'policy');
    t.same(seen, [[a.id, 100, 7], [b.id, 500, 9]], `${formatAccessLogMode(mode)}: observed once each, bytes by direction`);
    t.equal(lines.length, expected, `${formatAccessLogMode(mode)}: ${expected} lines`);
    if (mode.kind === 'sample') t.match(lines[0], { outcome: 'denied', response_flags: 'UAEX', reason: 'policy' }, 'the failure is the one kept');
    if (mode.kind === 'on') t.same(lines.map((l) => [l['outcome'], l['response_flags']]), [['ok', '-'], ['denied', 'UAEX']], 'outcome and flag of each line');
    t.same(table.openedByDirection, { outbound: 1, inbound: 1 });
  }
});
