/**
 * The pure L4 decisions: TCP fault injection (reset first, then delay, drawn independently, a
 * 0% share draws nothing), admission against `maxConnections` (overflow at the limit, faults
 * only for admitted connections), the policy's timeouts handed on, and the open-connection
 * counts (a port with none left is forgotten).
 */
import { EventEmitter } from 'node:events';
import t from 'tap';
import { seededRandom } from '../../../../src/agent/policy/balancers/seeded-random.js';
import { admitTcp, ConnectionCounts, hasTcpPolicy } from '../../../../src/agent/policy/resilience/tcp-admission.js';
import { decideTcpFault, NO_TCP_FAULT } from '../../../../src/agent/policy/resilience/tcp-fault.js';
import { DEFAULT_CIRCUIT_BREAKER } from '../../../../src/mesh/resilience.js';

/** Dice that answer `values` in turn and count their draws. */
function dice(...values: number[]): { (): number; draws: number } {
  const f = Object.assign(() => {
    f.draws++;
    return values.shift() ?? 0.999;
  }, { draws: 0 });
  return f;
}

t.test('tcp fault: reset, delay, or nothing', async (t) => {
  t.equal(decideTcpFault(undefined, dice()), NO_TCP_FAULT, 'no policy');
  t.same(decideTcpFault({ resetPercent: 30 }, dice(0.29)), { reset: true }, 'under the share: reset');
  t.same(decideTcpFault({ resetPercent: 30 }, dice(0.3)), NO_TCP_FAULT, 'at the share: not reset');
  const both = { resetPercent: 10, delay: { ms: 250, percent: 50 } };
  t.same(decideTcpFault(both, dice(0.5, 0.49)), { reset: false, delayMs: 250 }, 'not reset, then delayed');
  t.same(decideTcpFault(both, dice(0.05, 0.0)), { reset: true }, 'a reset is never delayed');
  t.same(decideTcpFault({ resetPercent: 100 }, dice(0.999999)), { reset: true }, '100%: always');
  const d = dice();
  decideTcpFault({ resetPercent: 0, delay: { ms: 10, percent: 0 } }, d);
  t.equal(d.draws, 0, '0% shares draw nothing');
  t.same(decideTcpFault({ resetPercent: 0, delay: { ms: 0, percent: 100 } }, dice(0)), NO_TCP_FAULT, 'a 0 ms delay is no delay');
});

t.test('tcp fault: the reset share over 100,000 seeded draws', async (t) => {
  const random = seededRandom(7);
  let resets = 0;
  for (let i = 0; i < 100_000; i++) if (decideTcpFault({ resetPercent: 12.5 }, random).reset) resets++;
  // Binomial sd is 105: 5 sd either way.
  t.ok(resets > 12_500 - 525, `${resets} resets: not too few`);
  t.ok(resets < 12_500 + 525, `${resets} resets: not too many`);
});

t.test('admission: the limit refuses at once; faults only for admitted connections', async (t) => {
  const breaker = { ...DEFAULT_CIRCUIT_BREAKER, maxConnections: 2 };
  t.same(admitTcp({ circuitBreaker: breaker }, 1, dice()), { delayMs: 0, connectTimeoutMs: undefined, idleTimeoutMs: undefined, counted: true });
  t.same(admitTcp({ circuitBreaker: breaker }, 2, dice()), { refuse: 'overflow' }, 'at the limit');
  t.same(admitTcp({ circuitBreaker: breaker }, 1_000_000, dice()), { refuse: 'overflow' }, 'far past it');
  const d = dice(0);
  t.same(admitTcp({ circuitBreaker: breaker, tcpFault: { resetPercent: 100 } }, 2, d), { refuse: 'overflow' }, 'overflow before the fault');
  t.equal(d.draws, 0, 'no dice for a refused connection');
  t.same(admitTcp({ tcpFault: { resetPercent: 100 } }, 0, dice(0)), { refuse: 'fault_abort' });
  t.same(admitTcp({ tcpFault: { resetPercent: 0, delay: { ms: 40, percent: 100 } }, timeout: { connectMs: 500, tcpIdleMs: 9000 } }, 0, dice(0)), { delayMs: 40, connectTimeoutMs: 500, idleTimeoutMs: 9000, counted: false });
  t.same(admitTcp({ circuitBreaker: { ...DEFAULT_CIRCUIT_BREAKER, maxConnections: 0 } }, 0, dice()), { refuse: 'overflow' }, 'a limit of 0 admits none');
});

t.test('admission: sections that do not concern L4 change nothing', async (t) => {
  t.equal(hasTcpPolicy(undefined), false);
  t.equal(hasTcpPolicy({}), false);
  t.equal(hasTcpPolicy({ timeout: { requestMs: 100 } }), false, 'an HTTP timeout only');
  t.equal(hasTcpPolicy({ timeout: { tcpIdleMs: 100 } }), true);
  t.equal(hasTcpPolicy({ tcpFault: { resetPercent: 0 } }), true);
  t.same(admitTcp({ timeout: { requestMs: 100 } }, 5, dice()), { delayMs: 0, connectTimeoutMs: undefined, idleTimeoutMs: undefined, counted: false });
});

t.test('connection counts: per Service port, forgotten at zero', async (t) => {
  const c = new ConnectionCounts();
  c.open('a|80');
  c.open('a|80');
  c.open('b|80');
  t.equal(c.get('a|80'), 2);
  t.equal(c.size, 2);
  c.close('a|80');
  c.close('a|80');
  c.close('b|80');
  t.equal(c.get('a|80'), 0);
  t.equal(c.size, 0, 'nothing kept for ports with no connection');
  c.close('never-opened|80');
  t.equal(c.get('never-opened|80'), 0, 'an extra close never goes negative');
  t.equal(c.size, 0);
});

t.test('a held connection is released once when it closes, however often it says so', async (t) => {
  const c = new ConnectionCounts();
  const conn = new EventEmitter();
  c.holdUntilClosed('a|80', conn);
  c.holdUntilClosed('a|80', new EventEmitter());
  t.equal(c.get('a|80'), 2);
  conn.emit('close');
  conn.emit('close');
  t.equal(c.get('a|80'), 1, 'one release for one connection');
});

t.test('one connection held by two counts (its Service port and its workload) is released by both', async (t) => {
  const ports = new ConnectionCounts();
  const workloads = new ConnectionCounts();
  const conn = new EventEmitter();
  ports.holdUntilClosed('a|80', conn);
  workloads.holdUntilClosed('Pod/demo/a', conn);
  t.equal(ports.get('a|80'), 1);
  t.equal(workloads.get('Pod/demo/a'), 1);
  conn.emit('close');
  t.equal(ports.get('a|80'), 0, 'the port count released');
  t.equal(workloads.get('Pod/demo/a'), 0, 'the workload count released');
});
