/**
 * Trace context propagation: W3C `traceparent`/`tracestate` and B3 (single and multi) are read,
 * bad values are ignored (a new root, never an error), and a span is written back in the
 * formats the request came with, W3C always.
 */
import t from 'tap';
import { FORMAT_B3_MULTI, FORMAT_B3_SINGLE, FORMAT_W3C, parseB3Single, parseTraceparent, readContext, writeContext } from '../../../../src/agent/trace/trace-context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

t.test('traceparent: valid versions and flags', async (t) => {
  t.same(parseTraceparent(`00-${TRACE}-${SPAN}-01`), { traceId: TRACE, spanId: SPAN, sampled: true });
  t.same(parseTraceparent(`00-${TRACE}-${SPAN}-00`), { traceId: TRACE, spanId: SPAN, sampled: false });
  t.same(parseTraceparent(`00-${TRACE}-${SPAN}-03`), { traceId: TRACE, spanId: SPAN, sampled: true }, 'other flag bits are ignored');
  t.same(parseTraceparent(`01-${TRACE}-${SPAN}-01-extra`), { traceId: TRACE, spanId: SPAN, sampled: true }, 'a later version may add fields');
});

t.test('traceparent: invalid values are refused', async (t) => {
  const bad = [
    '',
    `ff-${TRACE}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}-01-extra`,
    `00-00000000000000000000000000000000-${SPAN}-01`,
    `00-${TRACE}-0000000000000000-01`,
    `00-${TRACE.toUpperCase()}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}-zz`,
    `00_${TRACE}_${SPAN}_01`,
    `00-${TRACE.slice(1)}-${SPAN}-01`,
  ];
  for (const v of bad) t.equal(parseTraceparent(v), undefined, JSON.stringify(v));
});

t.test('b3 single: the forms, 64-bit ids padded, bad ones refused', async (t) => {
  t.same(parseB3Single(`${TRACE}-${SPAN}-1-${SPAN}`), { traceId: TRACE, spanId: SPAN, sampled: true });
  t.same(parseB3Single(`${TRACE}-${SPAN}`), { traceId: TRACE, spanId: SPAN, sampled: undefined }, 'no sampling state: ours to decide');
  t.same(parseB3Single(`${TRACE}-${SPAN}-d`), { traceId: TRACE, spanId: SPAN, sampled: true }, 'debug is sampled');
  t.same(parseB3Single(`a3ce929d0e0e4736-${SPAN}-0`), { traceId: `0000000000000000a3ce929d0e0e4736`, spanId: SPAN, sampled: false });
  for (const v of ['0', '1', `${TRACE}`, `${TRACE}-${SPAN}-x`, `${TRACE}-nothex0000000000-1`, `${TRACE}-${SPAN}-1-bad`]) t.equal(parseB3Single(v), undefined, v);
});

t.test('readContext: W3C first, every valid format listed, tracestate kept', async (t) => {
  const ctx = readContext({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'vendor=a,other=b', b3: `${TRACE}-aaaaaaaaaaaaaaaa-1` });
  t.same(ctx, { traceId: TRACE, spanId: SPAN, sampled: true, formats: FORMAT_W3C | FORMAT_B3_SINGLE, tracestate: 'vendor=a,other=b' });
  const multi = readContext({ 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-sampled': '0' });
  t.same(multi, { traceId: TRACE, spanId: SPAN, sampled: false, formats: FORMAT_B3_MULTI });
  const flags = readContext({ 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-flags': '1' });
  t.equal(flags?.sampled, true, 'X-B3-Flags: 1 (debug) is sampled');
});

t.test('readContext: bad headers read as none (a new root)', async (t) => {
  t.equal(readContext({}), undefined);
  t.equal(readContext({ traceparent: 'garbage', b3: 'also-garbage', 'x-b3-traceid': 'zz', 'x-b3-spanid': SPAN }), undefined);
  t.equal(readContext({ traceparent: [`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01`] }), undefined, 'two traceparent headers: ambiguous');
  const fallback = readContext({ traceparent: 'garbage', b3: `${TRACE}-${SPAN}-1` });
  t.same(fallback, { traceId: TRACE, spanId: SPAN, sampled: true, formats: FORMAT_B3_SINGLE }, 'a bad traceparent falls back to b3');
});

t.test('writeContext: W3C always, B3 in the formats it came with, stale headers removed', async (t) => {
  const span = { traceId: TRACE, spanId: '1111111111111111', parentSpanId: SPAN, sampled: true, tracestate: 'vendor=a' };
  const plain: Record<string, string | string[]> = { traceparent: 'garbage', 'x-b3-spanid': 'stale' };
  writeContext(plain, span, 0);
  t.same(plain, { traceparent: `00-${TRACE}-1111111111111111-01`, tracestate: 'vendor=a' });

  const single: Record<string, string | string[]> = {};
  writeContext(single, span, FORMAT_B3_SINGLE);
  t.equal(single['b3'], `${TRACE}-1111111111111111-1-${SPAN}`);
  t.equal(single['x-b3-traceid'], undefined);

  const multi: Record<string, string | string[]> = {};
  writeContext(multi, { ...span, sampled: false }, FORMAT_B3_MULTI);
  t.same(
    { t: multi['x-b3-traceid'], s: multi['x-b3-spanid'], p: multi['x-b3-parentspanid'], d: multi['x-b3-sampled'], tp: multi['traceparent'] },
    { t: TRACE, s: '1111111111111111', p: SPAN, d: '0', tp: `00-${TRACE}-1111111111111111-00` },
  );
  t.equal(multi['b3'], undefined);
});
