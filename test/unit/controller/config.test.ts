import t from 'tap';
import { loadControllerConfig } from '../../../src/controller/config.js';
import { MeshletError } from '../../../src/mesh/errors.js';

t.test('YAML registry with join tokens: defaults', async (t) => {
  const c = loadControllerConfig({ registry: '/etc/meshlet/registry', joinTokens: '/etc/meshlet/join-tokens.yaml' }, {});
  t.same(c.registry, { kind: 'directory', dir: '/etc/meshlet/registry' });
  t.equal(c.listenHost, '0.0.0.0');
  t.equal(c.listenPort, 15012);
  t.same(c.ca, { kind: 'directory', dir: '/var/lib/meshlet-controller/ca' });
  t.equal(c.kubernetesAuth, false);
  t.equal(c.certTtlSeconds, 86_400);
  t.ok(Object.isFrozen(c), 'the config is frozen');
  t.ok(Object.isFrozen(c.registry), 'its registry is frozen (deep)');
});

t.test('Kubernetes: TokenReview auth on by default; CA in a Secret', async (t) => {
  const c = loadControllerConfig({ kubernetes: true, caSecret: true, listen: '[::]:15012' }, { POD_NAME: 'ctl-0' });
  t.same(c.leaderElection, { identity: 'ctl-0' }, 'leader election on by default with --kubernetes');
  t.throws(() => loadControllerConfig({ kubernetes: true }, {}), /POD_NAME/, 'it needs a replica name');
  t.equal(loadControllerConfig({ kubernetes: true, leaderElect: false }, {}).leaderElection, undefined, '--no-leader-elect');
  t.throws(() => loadControllerConfig({ registry: '/r', joinTokens: '/j', leaderElect: true }, { POD_NAME: 'x' }), /needs --kubernetes/);
  t.same(c.registry, { kind: 'kubernetes' });
  t.equal(c.kubernetesAuth, true);
  t.equal(c.listenHost, '::');
  t.same(c.ca, { kind: 'kubernetes-secret', namespace: 'meshlet-system', name: 'meshlet-ca' });
});

t.test('operator-provided CA files', async (t) => {
  const c = loadControllerConfig({ registry: '/r', joinTokens: '/j', caCert: '/ca.crt', caKey: '/ca.key', caBundle: '/root.crt' }, {});
  t.same(c.ca, { kind: 'files', certFile: '/ca.crt', keyFile: '/ca.key', bundleFile: '/root.crt' });
});

t.test('every bad field at once', async (t) => {
  try {
    loadControllerConfig({ listen: 'nowhere', caCert: '/x', certTtl: '5', logLevel: 'loud', bogus: 1 }, {});
    t.fail('should throw');
  } catch (err) {
    t.type(err, MeshletError);
    t.equal((err as MeshletError).code, 'MESHLET_ERR_CONFIG_INVALID');
    const text = (err as MeshletError).details.join('\n');
    for (const f of ['--registry/--kubernetes', '--listen="nowhere"', '--ca-cert/--ca-key', '--cert-ttl="5"', '--log-level="loud"', 'bogus=1', '--join-tokens']) {
      t.ok(text.includes(f), `names ${f}`);
    }
  }
});

t.test('environment fills in, flags win', async (t) => {
  const c = loadControllerConfig({ joinTokens: '/j' }, { MESHLET_REGISTRY_DIR: '/from-env', MESHLET_LISTEN: '127.0.0.1:0' });
  t.same(c.registry, { kind: 'directory', dir: '/from-env' });
  t.equal(c.listenPort, 0);
});

t.test('metrics port: default 15014, flag, environment, 0 for any free port', async (t) => {
  const base = { registry: '/r', joinTokens: '/j' };
  t.equal(loadControllerConfig(base, {}).metricsPort, 15014);
  t.equal(loadControllerConfig({ ...base, metricsPort: '9102' }, {}).metricsPort, 9102);
  t.equal(loadControllerConfig(base, { MESHLET_METRICS_PORT: '9103' }).metricsPort, 9103);
  t.equal(loadControllerConfig({ ...base, metricsPort: '9104' }, { MESHLET_METRICS_PORT: '9103' }).metricsPort, 9104, 'the flag wins');
  t.equal(loadControllerConfig({ ...base, metricsPort: '0' }, {}).metricsPort, 0);
  for (const bad of ['70000', '-1', 'http', '1.5']) {
    t.throws(() => loadControllerConfig({ ...base, metricsPort: bad }, {}), /--metrics-port/, `${bad} refused`);
  }
});

t.test('debug port: default 15013, flag, environment, 0 for any free port', async (t) => {
  const base = { registry: '/r', joinTokens: '/j' };
  t.equal(loadControllerConfig(base, {}).debugPort, 15013);
  t.equal(loadControllerConfig({ ...base, debugPort: '9105' }, {}).debugPort, 9105);
  t.equal(loadControllerConfig(base, { MESHLET_DEBUG_PORT: '9106' }).debugPort, 9106);
  t.equal(loadControllerConfig({ ...base, debugPort: '0' }, {}).debugPort, 0);
  for (const bad of ['70000', '-1', 'x']) {
    t.throws(() => loadControllerConfig({ ...base, debugPort: bad }, {}), /--debug-port/, `${bad} refused`);
  }
});

t.test('an unknown option near a known one gets a did-you-mean hint; bad numbers name the value', async (t) => {
  try {
    loadControllerConfig({ registry: '/r', joinTokens: '/j', debounceMS: '50', certTtl: '1e3', metricsPort: '0x10' }, {});
    t.fail('should throw');
  } catch (err) {
    t.same((err as MeshletError).details, [
      'debounceMS="50": unknown option (did you mean debounceMs?)',
      '--metrics-port="0x10": must be a port number 0..65535 (0: any free port)',
      '--cert-ttl="1e3": must be whole seconds >= 10',
    ]);
  }
});
