import t from 'tap';
import { TICKET_KEY_BYTES, TicketKeys } from '../../../src/agent/identity/ticket-keys.js';

t.test('ticket keys are 48 random bytes, replaced on every period and handed on', async (t) => {
  const handed: Buffer[] = [];
  const keys = new TicketKeys((k) => handed.push(k), 20);
  t.teardown(() => keys.close());
  const first = keys.current;
  t.equal(first.length, TICKET_KEY_BYTES);
  for (let i = 0; i < 1000 && handed.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  t.ok(handed.length >= 2, 'rotated on the timer');
  t.not(handed[0]?.toString('hex'), first.toString('hex'), 'a rotation brings new keys');
  t.equal(keys.current, handed[handed.length - 1], 'the newest keys are the ones in force');
  keys.close();
  const after = handed.length;
  await new Promise((r) => setTimeout(r, 60));
  t.equal(handed.length, after, 'no rotation after close');
});
