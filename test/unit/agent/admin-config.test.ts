/** The admin, metrics and access-log settings of loadAgentConfig. */
import t from 'tap';
import { loadAgentConfig } from '../../../src/agent/config.js';

const base = { node: 'node1', config: '/etc/meshlet' };

t.test('defaults: admin on 127.0.0.1:15000, metrics on 15020, access log on', async (t) => {
  const c = loadAgentConfig(base, {});
  t.equal(c.ports.admin, 15000);
  t.equal(c.ports.metrics, 15020);
  t.equal(c.adminAddress, '127.0.0.1');
  t.same(c.accessLog, { kind: 'on' });
});

t.test('flags and environment', async (t) => {
  const c = loadAgentConfig({ ...base, adminPort: '9000', metricsPort: '9001', adminAddress: '::1', accessLog: 'sample:0.1' }, {});
  t.match(c, { ports: { admin: 9000, metrics: 9001 }, adminAddress: '::1', accessLog: { kind: 'sample', ratio: 0.1 } });
  t.same(loadAgentConfig(base, { MESHLET_ACCESS_LOG: 'off' }).accessLog, { kind: 'off' });
});

t.test('the admin address must be loopback; bad values are listed together', async (t) => {
  t.throws(() => loadAgentConfig({ ...base, adminAddress: '0.0.0.0', accessLog: 'maybe', adminPort: 70000 }, {}), {
    code: 'MESHLET_ERR_CONFIG_INVALID',
    message: /--admin-port=70000[\s\S]*--admin-address="0\.0\.0\.0": must be a loopback address[\s\S]*--access-log="maybe"/,
  });
  for (const addr of ['198.18.0.1', '::', 'localhost']) t.throws(() => loadAgentConfig({ ...base, adminAddress: addr }, {}), { message: /--admin-address/ });
});

t.test('the admin token file: /run/meshlet/admin-token by default, a flag or MESHLET_ADMIN_TOKEN_FILE, absolute only', async (t) => {
  t.equal(loadAgentConfig(base, {}).adminTokenFile, '/run/meshlet/admin-token');
  t.equal(loadAgentConfig(base, { MESHLET_ADMIN_TOKEN_FILE: '/run/x/token' }).adminTokenFile, '/run/x/token');
  t.equal(loadAgentConfig({ ...base, adminTokenFile: '/srv/t' }, { MESHLET_ADMIN_TOKEN_FILE: '/run/x/token' }).adminTokenFile, '/srv/t', 'the flag wins');
  t.throws(() => loadAgentConfig({ ...base, adminTokenFile: 'token' }, {}), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /--admin-token-file="token": must be an absolute path/ });
});
