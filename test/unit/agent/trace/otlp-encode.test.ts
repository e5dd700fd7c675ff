/**
 * meshlet's OTLP encoder against the official opentelemetry-proto definitions: what it writes
 * decodes, field by field, as an `ExportTraceServiceRequest` (ids, parent, kind, times,
 * attributes of each type, status, flags, one ResourceSpans per resource), long values included
 * (a length that needs several varint bytes).
 */
import t from 'tap';
import { encodeSpans, SCOPE_NAME } from '../../../../src/agent/trace/otlp-encode.js';
import { SPAN_KIND_CLIENT, SPAN_KIND_SERVER, type SpanData, type SpanResource } from '../../../../src/agent/trace/span-data.js';
import { decodeExport } from '../../../helpers/otlp-receiver.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const res = (service: string): SpanResource => ({ key: service, attributes: [['service.name', service], ['k8s.namespace.name', 'demo'], ['k8s.node.name', 'n1']] });

t.test('spans decode with the official definitions', async (t) => {
  const long = 'x'.repeat(20_000);
  const spans: SpanData[] = [
    {
      context: { traceId: TRACE, spanId: '1111111111111111', sampled: true },
      name: 'GET', kind: SPAN_KIND_CLIENT, startNs: 1_700_000_000_123_456_789n, endNs: 1_700_000_000_223_456_789n,
      attributes: [['http.request.method', 'GET'], ['http.response.status_code', 200], ['meshlet.flag', true], ['meshlet.ratio', 0.25], ['url.path', long]],
      resource: res('client'),
    },
    {
      context: { traceId: TRACE, spanId: '2222222222222222', parentSpanId: '1111111111111111', sampled: true, tracestate: 'v=1' },
      name: 'GET', kind: SPAN_KIND_SERVER, startNs: 1n, endNs: 2n, attributes: [['http.response.status_code', 503]], error: 'HTTP 503',
      resource: res('server'),
    },
    {
      context: { traceId: TRACE, spanId: '3333333333333333', parentSpanId: '1111111111111111', sampled: true },
      name: 'POST', kind: SPAN_KIND_SERVER, startNs: 3n, endNs: 4n, attributes: [], resource: res('server'),
    },
  ];
  const body = encodeSpans(spans, '9.9.9');
  const got = decodeExport(body);
  t.equal(got.length, 3);
  const [a, b, c] = got;
  t.same(
    { traceId: a?.traceId, spanId: a?.spanId, parent: a?.parentSpanId, kind: a?.kind, start: a?.startTimeUnixNano, end: a?.endTimeUnixNano, flags: a?.flags, scope: a?.scope },
    { traceId: TRACE, spanId: '1111111111111111', parent: '', kind: 3, start: '1700000000123456789', end: '1700000000223456789', flags: 1, scope: SCOPE_NAME },
  );
  t.same(a?.attributes, { 'http.request.method': 'GET', 'http.response.status_code': 200, 'meshlet.flag': true, 'meshlet.ratio': 0.25, 'url.path': long });
  t.same(a?.resource, { 'service.name': 'client', 'k8s.namespace.name': 'demo', 'k8s.node.name': 'n1' });
  t.same(
    { parent: b?.parentSpanId, kind: b?.kind, status: b?.status, traceState: b?.traceState, flags: b?.flags, service: b?.resource['service.name'] },
    { parent: '1111111111111111', kind: 2, status: { code: 2, message: 'HTTP 503' }, traceState: 'v=1', flags: 0x301, service: 'server' },
  );
  t.same({ name: c?.name, status: c?.status.code, service: c?.resource['service.name'] }, { name: 'POST', status: 0, service: 'server' }, 'a span without error has status UNSET');
});

t.test('no spans: an empty request', async (t) => {
  t.equal(encodeSpans([], '1').length, 0);
  t.same(decodeExport(encodeSpans([], '1')), []);
});
