import t from 'tap';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { MeshletError } from '../../../src/mesh/errors.js';

t.test('defaults and freezing', async (t) => {
  const c = loadAgentConfig({ node: 'node1', config: '/etc/meshlet' }, {});
  t.equal(c.ports.outbound, 15001);
  t.equal(c.ports.inbound, 15006);
  t.equal(c.ports.tunnel, 15008);
  t.equal(c.ports.readiness, 15021);
  t.equal(c.trustDomain, 'cluster.local');
  t.equal(c.manageIptables, true);
  t.equal(c.drainDeadlineMs, 20_000);
  t.ok(Object.isFrozen(c), 'the config is frozen');
  t.ok(Object.isFrozen(c.ports), 'its ports are frozen (deep)');
});

t.test('environment fills what flags leave out; flags win', async (t) => {
  const c = loadAgentConfig({ config: '/d', logLevel: 'debug' }, { MESHLET_NODE: 'n2', MESHLET_LOG_LEVEL: 'warn' });
  t.equal(c.node, 'n2');
  t.equal(c.logLevel, 'debug');
});

t.test('every bad field is listed at once', async (t) => {
  try {
    loadAgentConfig({ node: 'Bad_Node', outboundPort: '70000', logLevel: 'loud', bind: 'nope', drainSeconds: '-1', bogus: 1 }, {});
    t.fail('should throw');
  } catch (err) {
    t.ok(err instanceof MeshletError);
    const e = err as MeshletError;
    t.equal(e.code, 'MESHLET_ERR_CONFIG_INVALID');
    const text = e.details.join('\n');
    for (const field of ['--node="Bad_Node"', '--outbound-port="70000"', '--log-level="loud"', '--bind="nope"', '--drain-seconds="-1"', 'bogus=1', '--config=""']) {
      t.ok(text.includes(field), `names ${field}`);
    }
  }
});

t.test('--no-iptables turns rule management off', async (t) => {
  t.equal(loadAgentConfig({ node: 'a', config: '/d', iptables: false }, {}).manageIptables, false);
});

t.test('controller mode', async (t) => {
  const c = loadAgentConfig({ node: 'n1', controller: '198.18.0.2:15012', controllerCa: '/ca.crt', joinTokenFile: '/t' }, {});
  t.same(c.controller, { address: '198.18.0.2:15012', caFile: '/ca.crt', token: { kind: 'join-token', file: '/t' } });
  t.equal(c.configDir, '');
  const k = loadAgentConfig({ node: 'n1', controller: 'meshlet-controller.meshlet-system.svc:15012', controllerCa: '/ca.crt', kubeTokenFile: '/var/run/secrets/tokens/meshlet' }, {});
  t.equal(k.controller?.token.kind, 'kubernetes-token');
  try {
    loadAgentConfig({ node: 'n1', controller: 'nohost', config: '/d', joinTokenFile: '/t', kubeTokenFile: '/k' }, {});
    t.fail('should throw');
  } catch (err) {
    const text = (err as { details: string[] }).details.join('\n');
    for (const f of ['--controller="nohost"', '--controller-ca', '--config="/d"', '--join-token-file/--kube-token-file']) t.ok(text.includes(f), `names ${f}`);
  }
  t.throws(() => loadAgentConfig({ node: 'n1', config: '/d', joinTokenFile: '/t' }, {}), /only with --controller/);
});

t.test('certificates renew at half of the time left, whatever notBefore says', async (t) => {
  const { renewalDelayMs } = await import('../../../src/agent/identity/manager.js');
  const now = Date.parse('2026-11-21T12:00:00Z');
  t.equal(renewalDelayMs(new Date(now + 24 * 3600_000), now), 12 * 3600_000, '24 h certificate: 12 h');
  t.equal(renewalDelayMs(new Date(now + 10_000), now), 5_000, '10 s certificate: 5 s (a backdated notBefore does not matter)');
  t.equal(renewalDelayMs(new Date(now - 1), now), 1_000, 'expired: retry soon, not in a busy loop');
});

t.test('an unknown option near a known one gets a did-you-mean hint', async (t) => {
  try {
    loadAgentConfig({ node: 'n1', config: '/d', tunelPort: '15008', bogus: 1 }, {});
    t.fail('should throw');
  } catch (err) {
    t.same((err as MeshletError).details, ['tunelPort="15008": unknown option (did you mean tunnelPort?)', 'bogus=1: unknown option']);
  }
});

t.test('--l7 and --protocol-detection-timeout: defaults, environment, and bad values refused', async (t) => {
  const d = loadAgentConfig({ node: 'n', config: '/d' }, {});
  t.same({ l7: d.l7, wait: d.protocolDetectionTimeoutMs }, { l7: 'on', wait: 200 });
  const env = loadAgentConfig({ node: 'n', config: '/d' }, { MESHLET_L7: 'off', MESHLET_PROTOCOL_DETECTION_TIMEOUT: '50' });
  t.same({ l7: env.l7, wait: env.protocolDetectionTimeoutMs }, { l7: 'off', wait: 50 });
  for (const [flags, named] of [
    [{ l7: 'maybe' }, '--l7="maybe"'],
    [{ protocolDetectionTimeout: '0' }, '--protocol-detection-timeout="0"'],
    [{ protocolDetectionTimeout: '10001' }, '--protocol-detection-timeout="10001"'],
    [{ protocolDetectionTimeout: '1.5' }, '--protocol-detection-timeout="1.5"'],
  ] as const) {
    const err = t.throws(() => loadAgentConfig({ node: 'n', config: '/d', ...flags }, {})) as MeshletError;
    t.match(err.details.join('\n'), named, `refused, naming ${named}`);
  }
});
