/**
 * `/config_dump` says how the agent gets its snapshots: the agent version, static or
 * controller mode, and the controller connection's state (what `meshlet status` shows).
 */
import t from 'tap';
import { pino } from 'pino';
import { AdminServer } from '../../../src/agent/admin/server.js';
import { newAdminToken } from '../../../src/agent/admin/token.js';
import { adminRig } from './admin-rig.js';

t.test('config_dump reports the agent version and the controller connection', async (t) => {
  const rig = await adminRig(t);
  let connected = false;
  const token = newAdminToken();
  const admin = new AdminServer({
    agent: rig.agent,
    logger: pino({ level: 'silent' }),
    quit: () => undefined,
    token,
    source: { agentVersion: '9.9.9', controller: () => ({ address: '198.18.0.2:15012', connected, ...(connected ? {} : { lastError: 'ECONNREFUSED' }) }) },
  });
  const bound = await admin.start(0, '127.0.0.1');
  t.teardown(() => admin.close());
  const dump = async (): Promise<Record<string, unknown>> => (await (await fetch(`http://127.0.0.1:${bound.port}/config_dump`, { headers: { authorization: `Bearer ${token}` } })).json()) as Record<string, unknown>;
  let d = await dump();
  t.equal(d['agentVersion'], '9.9.9');
  t.equal(d['mode'], 'controller');
  t.same(d['controller'], { address: '198.18.0.2:15012', connected: false, lastError: 'ECONNREFUSED' });
  connected = true;
  d = await dump();
  t.same(d['controller'], { address: '198.18.0.2:15012', connected: true }, 'read at request time');
});
