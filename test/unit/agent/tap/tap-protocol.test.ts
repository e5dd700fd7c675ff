/** The worker channel's tap messages: a batch of events is checked event by event before the primary uses it. */
import t from 'tap';
import { parseWorkerMessage } from '../../../../src/agent/workers/protocol.js';
import { TAP_MAX_BATCH } from '../../../../src/agent/tap/tap-batcher.js';

const event = { type: 'connection.close', time: 1, worker: 42, id: 3, src: '10.0.0.1:1', bytes_sent: 10, outcome: 'ok', truncated: true };

t.test('a well-formed batch passes', async (t) => {
  t.same(parseWorkerMessage({ type: 'tap-events', events: [event], dropped: 0 }), { type: 'tap-events', events: [event], dropped: 0 });
});

t.test('malformed batches are refused with the reason', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [{ type: 'tap-events', events: 'x', dropped: 0 }, /events must be a list/],
    [{ type: 'tap-events', events: Array.from({ length: TAP_MAX_BATCH + 1 }, () => event), dropped: 0 }, /at most 256/],
    [{ type: 'tap-events', events: [], dropped: -1 }, /dropped must be a non-negative integer/],
    [{ type: 'tap-events', events: [{ ...event, type: 'tap.end' }], dropped: 0 }, /event 0 malformed/],
    [{ type: 'tap-events', events: [event, { ...event, evil: 1 }], dropped: 0 }, /event 1 malformed/],
    [{ type: 'tap-events', events: [{ ...event, path: 'x'.repeat(5000) }], dropped: 0 }, /event 0 malformed/],
    [{ type: 'tap-events', events: [{ ...event, bytes_sent: Infinity }], dropped: 0 }, /event 0 malformed/],
    [{ type: 'tap-events', events: [{ ...event, src: { nested: true } }], dropped: 0 }, /event 0 malformed/],
    [{ type: 'tap-events', events: [{ ...event, time: 'now' }], dropped: 0 }, /event 0 malformed/],
  ];
  for (const [msg, why] of cases) t.match(parseWorkerMessage(msg), why);
});
