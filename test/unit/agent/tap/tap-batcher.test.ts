/** A worker's tap batches: bounded per message, flushed soon, and dropped (counted) when the channel is not taking them. */
import t from 'tap';
import { TAP_MAX_BATCH, TapBatcher, type TapBatch } from '../../../../src/agent/tap/tap-batcher.js';
import type { TapEvent } from '../../../../src/agent/tap/tap-event.js';

const event = (id: number): TapEvent => ({ type: 'request', time: 1, worker: 9, id });

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 600 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
}

t.test('a full batch goes at once; the rest after the flush delay', async (t) => {
  const sent: TapBatch[] = [];
  const b = new TapBatcher((batch, done) => {
    sent.push(batch);
    done();
  });
  for (let i = 0; i < TAP_MAX_BATCH + 3; i++) b.event(event(i));
  t.same(sent.map((s) => s.events.length), [TAP_MAX_BATCH], 'one full batch sent at once');
  await until(() => sent.length === 2);
  t.same(sent.map((s) => s.events.length), [TAP_MAX_BATCH, 3], 'the rest a moment later');
});

t.test('drops ride on the next batch; a channel that does not take batches gets no more than 8', async (t) => {
  const sent: TapBatch[] = [];
  const b = new TapBatcher((batch) => void sent.push(batch)); // never done: the channel is stuck
  b.dropped(4);
  for (let round = 0; round < 10; round++) {
    b.event(event(round));
    b.flush();
  }
  t.equal(sent.length, 8, 'eight batches in flight at most');
  t.equal(sent[0]?.dropped, 4, 'the first carries the drops before it');
  b.event(event(99));
  b.flush();
  t.equal(sent.length, 8, 'still eight');
  t.same(sent.map((s) => s.events.length), [1, 1, 1, 1, 1, 1, 1, 1], 'one event each');
});

t.test('dropped events are counted into the next batch once the channel takes them again', async (t) => {
  const sent: TapBatch[] = [];
  const pending: Array<() => void> = [];
  const b = new TapBatcher((batch, done) => {
    sent.push(batch);
    pending.push(done);
  });
  for (let i = 0; i < 8; i++) {
    b.event(event(i));
    b.flush();
  }
  b.event(event(8));
  b.event(event(9));
  b.flush(); // no room: both dropped
  for (const done of pending.splice(0)) done();
  b.event(event(10));
  b.flush();
  t.equal(sent.length, 9);
  t.same({ events: sent[8]?.events.length, dropped: sent[8]?.dropped }, { events: 1, dropped: 2 }, 'the two dropped are reported');
});
