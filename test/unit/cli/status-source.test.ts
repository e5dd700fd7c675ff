/** `meshlet status`'s source address line from `/ready`'s `sourcePreservation`. */
import t from 'tap';
import { sourceLine } from '../../../src/cli/status-command.js';

t.test('each state in words', async (t) => {
  t.equal(sourceLine({ configured: 'on', active: true }), "preserved: workloads see their clients' addresses (L4)");
  t.equal(sourceLine({ configured: 'off', active: false }), "off (--preserve-source off): workloads see the node's address");
  t.equal(sourceLine({ configured: 'on', active: false, reason: 'setsockopt(IP_TRANSPARENT) failed: EPERM' }), 'NOT preserved: setsockopt(IP_TRANSPARENT) failed: EPERM');
  t.equal(sourceLine(undefined), 'unknown (not in /ready)', 'an older agent');
});
