/**
 * The one table from failures to outcomes, statuses, flags and codes (src/agent/policy/respond.ts):
 * every row pinned, so a change to what a failure looks like is a visible change here; the
 * errno, CONNECT-answer, refusal and splice-end mappings into it; and the codes it names are
 * documented ones.
 */
import t from 'tap';
import { ERROR_CODES } from '../../../../src/mesh/errors.js';
import {
  connectErrorKind,
  refusalKind,
  respond,
  responseFlag,
  RESPONSES,
  spliceEndKind,
  tunnelAnswerKind,
  type ErrorKind,
} from '../../../../src/agent/policy/respond.js';

/** kind: [outcome, HTTP status, gRPC status, response flag, error code]. */
const EXPECTED: Record<ErrorKind, readonly [string, number, number, string, string | undefined]> = {
  policy_denied: ['denied', 403, 7, 'UAEX', 'MESHLET_ERR_POLICY_DENIED'],
  authz_denied: ['denied', 403, 7, 'UAEX', 'MESHLET_ERR_POLICY_DENIED'],
  no_snapshot: ['no_route', 503, 14, 'NR', 'MESHLET_ERR_NO_ROUTE'],
  no_route: ['no_route', 404, 12, 'NR', 'MESHLET_ERR_NO_ROUTE'],
  no_healthy_upstream: ['no_route', 503, 14, 'UH', 'MESHLET_ERR_NO_ROUTE'],
  connect_timeout: ['connect_failed', 504, 4, 'UF', undefined],
  connect_refused: ['connect_failed', 503, 14, 'UF', undefined],
  connect_failed: ['connect_failed', 503, 14, 'UF', undefined],
  tunnel_failed: ['tunnel_failed', 503, 14, 'UF', 'MESHLET_ERR_TUNNEL_CONNECT'],
  tunnel_timeout: ['tunnel_failed', 504, 4, 'UT', 'MESHLET_ERR_TUNNEL_CONNECT'],
  tunnel_denied: ['denied', 403, 7, 'UAEX', 'MESHLET_ERR_TUNNEL_CONNECT'],
  tunnel_refused: ['connect_failed', 503, 14, 'UF', 'MESHLET_ERR_TUNNEL_CONNECT'],
  tunnel_reset: ['tunnel_failed', 503, 14, 'UC', undefined],
  tunnel_unauthenticated: ['denied', 403, 16, 'UAEX', 'MESHLET_ERR_TUNNEL_CONNECT'],
  tunnel_bad_method: ['denied', 405, 12, 'DPE', 'MESHLET_ERR_TUNNEL_CONNECT'],
  tunnel_bad_authority: ['denied', 400, 3, 'DPE', 'MESHLET_ERR_TUNNEL_CONNECT'],
  upstream_reset: ['reset', 503, 14, 'UC', undefined],
  downstream_reset: ['reset', 499, 1, 'DC', undefined],
  idle_timeout: ['reset', 504, 4, 'SI', undefined],
  drained: ['drained', 503, 14, 'LR', undefined],
  backend_not_found: ['no_route', 500, 13, 'NC', 'MESHLET_ERR_NO_ROUTE'],
  request_timeout: ['reset', 504, 4, 'UT', undefined],
  bad_request: ['denied', 400, 3, 'DPE', undefined],
  connect_not_allowed: ['denied', 405, 12, 'DPE', undefined],
  overflow: ['denied', 503, 14, 'UO', undefined],
  rate_limited: ['denied', 429, 8, 'RL', undefined],
  workload_limit: ['denied', 503, 8, 'UO', 'MESHLET_ERR_WORKLOAD_LIMIT'],
  fault_abort: ['denied', 503, 14, 'FI', undefined],
};

t.test('every row of the table', async (t) => {
  const kinds = Object.keys(RESPONSES).sort();
  t.same(kinds, Object.keys(EXPECTED).sort(), 'the table has exactly the kinds pinned here');
  for (const kind of kinds as ErrorKind[]) {
    const r = respond(kind);
    t.same([r.outcome, r.httpStatus, r.grpcStatus, r.responseFlag, r.errorCode], EXPECTED[kind], kind);
    t.equal(responseFlag(kind), r.responseFlag, `${kind}: responseFlag agrees`);
  }
  t.equal(responseFlag(undefined), '-', 'a clean close has no flag');
  t.equal(Object.isFrozen(RESPONSES), true, 'the table cannot be changed at run time');
  t.equal(Object.isFrozen(RESPONSES.drained), true, 'nor its rows');
});

t.test('every code the table names is documented, and every row keeps the statuses the data path always sent', async (t) => {
  const codes = Object.values(RESPONSES).flatMap((r) => (r.errorCode === undefined ? [] : [r.errorCode]));
  t.not(codes.length, 0);
  t.same(codes.filter((c) => !(c in ERROR_CODES)), []);
  // The tunnel's answers before the table existed: 403 for a policy refusal, 504 for a connect
  // timeout, 503 for any other connect failure; 403/405/400 from the tunnel server.
  t.same(
    (['policy_denied', 'connect_timeout', 'connect_refused', 'connect_failed', 'tunnel_unauthenticated', 'tunnel_bad_method', 'tunnel_bad_authority'] as const).map((k) => respond(k).httpStatus),
    [403, 504, 503, 503, 403, 405, 400],
  );
});

t.test('connect errors by errno name', async (t) => {
  const cases: Array<[string | undefined, ErrorKind]> = [
    ['ETIMEDOUT', 'connect_timeout'],
    ['ECONNREFUSED', 'connect_refused'],
    ['EHOSTUNREACH', 'connect_failed'],
    ['ENETUNREACH', 'connect_failed'],
    ['ECONNRESET', 'connect_failed'],
    ['EADDRNOTAVAIL', 'connect_failed'],
    [undefined, 'connect_failed'],
  ];
  t.same(cases.map(([code]) => connectErrorKind(code)), cases.map(([, kind]) => kind));
  t.same(cases.map(([code]) => respond(connectErrorKind(code)).outcome), cases.map(() => 'connect_failed'), 'all are connect_failed in the access log');
});

t.test("a peer agent's non-2xx answer to CONNECT", async (t) => {
  t.same([403, 503, 504, 400, 0].map(tunnelAnswerKind), ['tunnel_denied', 'tunnel_refused', 'tunnel_refused', 'tunnel_refused', 'tunnel_refused']);
  t.same([403, 503].map((s) => respond(tunnelAnswerKind(s)).outcome), ['denied', 'connect_failed'], 'the outcomes the outbound side always recorded');
  t.same([403, 503].map((s) => respond(tunnelAnswerKind(s)).errorCode), ['MESHLET_ERR_TUNNEL_CONNECT', 'MESHLET_ERR_TUNNEL_CONNECT']);
});

t.test("planOutbound's refusals keep the outcome the plan gives", async (t) => {
  const whys = ['no-snapshot', 'unidentified-source', 'no-endpoints', 'meshed-endpoint-unknown'] as const;
  t.same(whys.map(refusalKind), ['no_snapshot', 'policy_denied', 'no_healthy_upstream', 'no_route']);
  t.same(whys.map((w) => respond(refusalKind(w)).outcome), ['no_route', 'denied', 'no_route', 'no_route']);
  t.same(whys.map((w) => respond(refusalKind(w)).errorCode), ['MESHLET_ERR_NO_ROUTE', 'MESHLET_ERR_POLICY_DENIED', 'MESHLET_ERR_NO_ROUTE', 'MESHLET_ERR_NO_ROUTE']);
});

t.test('how a splice ended', async (t) => {
  t.equal(spliceEndKind(undefined), undefined);
  t.equal(spliceEndKind({ reset: false }), undefined);
  t.equal(spliceEndKind({ reset: true, resetBy: 'b' }), 'upstream_reset');
  t.equal(spliceEndKind({ reset: true, resetBy: 'a' }), 'downstream_reset');
  t.equal(spliceEndKind({ reset: true }), 'downstream_reset', 'no side known: the client side');
  t.equal(spliceEndKind({ reset: true, resetBy: 'a', idle: true }), 'idle_timeout', 'the idle timeout wins over the side it reset first');
});
