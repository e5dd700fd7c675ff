/**
 * One tap stream over a real socket on 127.0.0.1: a stream that ends (its `max`) while lines wait
 * for the socket writes them before its final line and never writes after its end; a reader
 * that lets the queue pass its bound (here: 40 lines of 256 KiB written in one go) is cut off
 * with the reason.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { TapStream, type TapStreamOwner } from '../../../../src/agent/tap/tap-stream.js';

type Started = { stream: TapStream; body: Promise<string>; owner: TapStreamOwner & { removedCount: number; cut: number[] } };

async function start(t: { teardown(fn: () => void): void }, opts: { max?: number; maxQueuedLines: number; maxQueuedBytes: number }): Promise<Started> {
  const owner = { removedCount: 0, cut: [] as number[], removed: () => void (owner.removedCount += 1), cutOff: (_s: TapStream, n: number) => void owner.cut.push(n) };
  let stream: TapStream | undefined;
  const server = http.createServer((_req, res) => {
    stream = new TapStream(res, owner, { filter: {}, ...(opts.max === undefined ? {} : { max: opts.max }), limits: { maxQueuedLines: opts.maxQueuedLines, maxQueuedBytes: opts.maxQueuedBytes, endGraceMs: 60_000 } });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const res = await new Promise<http.IncomingMessage>((resolve) => http.get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port }, resolve));
  const body = (async () => {
    let text = '';
    res.setEncoding('utf8');
    for await (const chunk of res) text += chunk as string;
    return text;
  })();
  return { stream: stream as TapStream, body, owner };
}

const big = (n: number): string => `${JSON.stringify({ type: 'request', n, pad: 'x'.repeat(256 * 1024) })}\n`;

t.test('ending at max while lines wait: they go first, then the final line', async (t) => {
  const { stream, body, owner } = await start(t, { max: 4, maxQueuedLines: 100, maxQueuedBytes: 64 * 1024 * 1024 });
  for (let i = 0; i < 4; i++) stream.event(big(i));
  stream.event(big(99)); // after the end: ignored, never written
  const lines = (await body).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(lines.map((l) => l['n'] ?? l['type']), [0, 1, 2, 3, 'tap.end'], 'four events in order, then tap.end');
  t.match(lines.at(-1), { reason: 'max', events: 4 });
  t.equal(owner.removedCount >= 1, true, 'the hub was told');
  t.same(owner.cut, [], 'not cut off');
});

t.test('a reader that lets the queue pass its bound is cut off, with the reason as its last line', async (t) => {
  const { stream, body, owner } = await start(t, { maxQueuedLines: 3, maxQueuedBytes: 64 * 1024 * 1024 });
  for (let i = 0; i < 40; i++) stream.event(big(i));
  t.equal(owner.cut.length, 1, 'cut off once');
  const lines = (await body).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(lines.at(-1), { type: 'tap.end', reason: 'slow_reader', discarded: owner.cut[0] });
  t.ok(lines.length < 41, `fewer lines than were sent (${lines.length - 1} events reached the reader)`);
});
