/**
 * charts/meshlet, rendered by a real Helm (scripts/helm.mjs: the pinned v4 build, fetched once):
 * `helm lint --strict` passes; the default values render exactly the objects of daemonset/ and,
 * with the monitoring values on, those of daemonset/monitoring/ too (parsed objects compared,
 * not text); every rendered object validates against its schema; each non-default value
 * changes exactly what it should and the program's own config loaders accept the result; bad
 * values fail with the message of values.schema.json naming the value.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { loadControllerConfig } from '../../../src/controller/config.js';
import { schemaProblems, type Schema } from './crd-schema-check.js';
import { argsToFlags, loadManifests, REPO, yamlDocuments, type KubeDoc } from './install-files.js';
import { MODELS } from './kube-models.js';

const CHART = join(REPO, 'charts', 'meshlet');

/** The helm binary; a failure to get it fails this file loudly (a skip would look like a pass). */
function helmBinary(): string {
  const r = spawnSync(process.execPath, [join(REPO, 'scripts', 'helm.mjs'), '--path'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/helm.mjs could not provide helm: ${r.stderr}`);
  return r.stdout.trim();
}
const HELM = helmBinary();
const work = mkdtempSync(join(tmpdir(), 'meshlet-helm-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
// Helm keeps caches and its config under these; a test must not write to the user's home.
const helmEnv = { ...process.env, HELM_CACHE_HOME: join(work, 'cache'), HELM_CONFIG_HOME: join(work, 'config'), HELM_DATA_HOME: join(work, 'data') };

interface HelmRun { readonly status: number | null; readonly stdout: string; readonly stderr: string }
let valuesFiles = 0;
function helm(args: readonly string[], values?: unknown): HelmRun {
  const extra: string[] = [];
  if (values !== undefined) {
    valuesFiles += 1;
    const file = join(work, `values-${valuesFiles}.json`);
    writeFileSync(file, JSON.stringify(values));
    extra.push('--values', file);
  }
  return spawnSync(HELM, [...args, ...extra], { encoding: 'utf8', env: helmEnv });
}

/** Rendered objects keyed by "Kind namespace/name"; throws with Helm's message on a failure. */
type Objects = Record<string, KubeDoc>;
function keyed(docs: readonly KubeDoc[]): Objects {
  const out: Objects = {};
  for (const d of docs) {
    const key = `${d.kind} ${d.metadata.namespace ?? ''}/${d.metadata.name}`;
    if (key in out) throw new Error(`${key} twice`);
    out[key] = d;
  }
  return out;
}
function render(values?: unknown, releaseNamespace = 'default'): Objects {
  const r = helm(['template', 'meshlet', CHART, '--include-crds', '--namespace', releaseNamespace], values);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return keyed(yamlDocuments(r.stdout, 'helm template') as KubeDoc[]);
}
/** The error of a render that must fail. */
function renderError(values: unknown, releaseNamespace = 'default'): HelmRun {
  return helm(['template', 'meshlet', CHART, '--namespace', releaseNamespace], values);
}

const DAEMONSET = keyed(loadManifests().map((e) => e.doc));
const MONITORING_DIR = join(REPO, 'daemonset', 'monitoring');
const MONITORING = keyed(readdirSync(MONITORING_DIR)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) => yamlDocuments(readFileSync(join(MONITORING_DIR, f), 'utf8'), f) as KubeDoc[]));
const ALL_MONITORS = { monitoring: { podMonitors: { enabled: true }, prometheusRule: { enabled: true }, dashboards: { enabled: true } } };
const defaults = render();

/**
 * A copy of the default render with each [object key, dotted path, value] edit applied; an
 * undefined value deletes the field.
 */
function edited(...edits: [string, string, unknown][]): Objects {
  const copy = structuredClone(defaults);
  for (const [key, path, value] of edits) {
    const names = path.split('.');
    const last = names.pop() as string;
    let node: unknown = copy[key];
    for (const name of names) node = (node as Record<string, unknown> | undefined)?.[name];
    if (typeof node !== 'object' || node === null) throw new Error(`no ${path} in ${key}`);
    if (value === undefined) delete (node as Record<string, unknown>)[last];
    else (node as Record<string, unknown>)[last] = value;
  }
  return copy;
}
const AGENT = 'DaemonSet meshlet-system/meshlet-agent';
const CONTROLLER = 'Deployment meshlet-system/meshlet-controller';
interface Container { args: string[]; env: { name: string; value?: string }[]; image: string; volumeMounts: { name: string; mountPath: string }[] }
const containerOf = (doc: KubeDoc | undefined): Container => {
  const c = (doc as unknown as { spec: { template: { spec: { containers: Container[] } } } } | undefined)?.spec.template.spec.containers[0];
  if (c === undefined) throw new Error('no container');
  return c;
};

t.test('helm lint --strict passes', async (t) => {
  const r = helm(['lint', CHART, '--strict']);
  t.equal(r.status, 0, r.stdout + r.stderr);
  t.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

t.test('the default values render exactly the objects of daemonset/', async (t) => {
  t.ok(Object.keys(DAEMONSET).length >= 13, `${Object.keys(DAEMONSET).length} objects in daemonset/`);
  t.strictSame(Object.keys(defaults).sort(), Object.keys(DAEMONSET).sort(), 'the same objects');
  for (const [key, doc] of Object.entries(DAEMONSET)) t.strictSame(defaults[key], doc, key);
});

t.test('with the monitoring values on, daemonset/monitoring/ too', async (t) => {
  const rendered = render(ALL_MONITORS);
  const expected = { ...DAEMONSET, ...MONITORING };
  t.ok(Object.keys(MONITORING).length >= 6, `${Object.keys(MONITORING).length} objects in daemonset/monitoring/`);
  t.strictSame(Object.keys(rendered).sort(), Object.keys(expected).sort(), 'the same objects');
  for (const [key, doc] of Object.entries(expected)) t.strictSame(rendered[key], doc, key);
});

const PROMETHEUS_RULE_SCHEMA = (parse(readFileSync(join(REPO, 'test', 'fixtures', 'prometheus-operator', 'prometheusrule-schema.yaml'), 'utf8')) as { openAPIV3Schema: Schema }).openAPIV3Schema;
/** Problems of one object against its schema: kubernetes-models, or the PrometheusRule CRD's. */
function validationProblems(doc: KubeDoc): string[] {
  const kind = `${doc.apiVersion}/${doc.kind}`;
  if (kind === 'monitoring.coreos.com/v1/PrometheusRule') return schemaProblems(doc, PROMETHEUS_RULE_SCHEMA);
  // No PodMonitor schema is kept in the repository: the PodMonitors are compared with
  // daemonset/monitoring/ instead (above).
  if (kind === 'monitoring.coreos.com/v1/PodMonitor') return [];
  const Model = MODELS[kind];
  if (Model === undefined) return [`${kind} has no validator in this test`];
  try {
    new Model(doc as never).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

const NON_DEFAULT = {
  image: { repository: 'registry.example.com/mesh/meshlet', tag: '0.2.0', pullPolicy: 'Always' },
  trustDomain: 'mesh.example.com',
  prometheusScrapeAnnotations: false,
  agent: {
    workers: 'auto', failureMode: 'open', logLevel: 'debug', accessLog: 'sample:0.25', drainSeconds: 45,
    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'mesh', effect: 'NoSchedule' }],
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    priorityClassName: '',
    updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
    podAnnotations: { team: 'net' },
  },
  controller: { replicas: 1, logLevel: 'warn', ca: { source: 'provided', provided: { secretName: 'my-ca', bundleKey: 'ca.crt' } } },
  ...ALL_MONITORS,
};

t.test('helm lint --strict passes with every value changed too (NOTES.txt included)', async (t) => {
  const r = helm(['lint', CHART, '--strict'], NON_DEFAULT);
  t.equal(r.status, 0, r.stdout + r.stderr);
  const notes = helm(['install', 'meshlet', CHART, '--dry-run=client', '--namespace', 'meshlet-system'], { ...NON_DEFAULT, namespace: { create: false } });
  t.equal(notes.status, 0, notes.stderr);
  t.match(notes.stdout, /The controller signs with your CA from the Secret meshlet-system\/my-ca\./, 'the notes name the provided CA');
  t.match(notes.stdout, /label the namespace so meshlet never meshes itself/, 'and the label to set when the chart did not make the namespace');
});

t.test('every rendered object validates against its schema, with default and other values', async (t) => {
  for (const [name, values] of [['defaults', undefined], ['non-default values', NON_DEFAULT]] as const) {
    const objects = Object.entries(render(values));
    t.ok(objects.length >= 13, `${name}: ${objects.length} objects`);
    for (const [key, doc] of objects) t.strictSame(validationProblems(doc), [], `${name}: ${key}`);
  }
});

t.test('the validator refuses a broken object (so a pass means something)', async (t) => {
  const ds = structuredClone(defaults[AGENT]) as unknown as { spec: { template: { spec: { terminationGracePeriodSeconds: unknown } } } };
  ds.spec.template.spec.terminationGracePeriodSeconds = '30';
  t.not(validationProblems(ds as unknown as KubeDoc).length, 0);
});

t.test('agent.workers changes MESHLET_WORKERS and nothing else', async (t) => {
  const expected = edited([AGENT, 'spec.template.spec.containers.0.env.1.value', '8']);
  t.strictSame(render({ agent: { workers: 8 } }), expected);
  t.equal(containerOf(render({ agent: { workers: 'auto' } })[AGENT]).env[1]?.value, 'auto');
});

t.test('agent.tolerations replace the agent pods\' tolerations and nothing else', async (t) => {
  const tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'mesh', effect: 'NoSchedule' }];
  const expected = edited([AGENT, 'spec.template.spec.tolerations', tolerations]);
  t.strictSame(render({ agent: { tolerations } }), expected);
  const none = edited([AGENT, 'spec.template.spec.tolerations', undefined]);
  t.strictSame(render({ agent: { tolerations: [] } }), none, 'an empty list: no tolerations field');
});

t.test('agent.updateStrategy: OnDelete drops the default rollingUpdate Helm would merge in', async (t) => {
  const expected = edited([AGENT, 'spec.updateStrategy', { type: 'OnDelete' }]);
  t.strictSame(render({ agent: { updateStrategy: { type: 'OnDelete' } } }), expected);
  const slower = edited([AGENT, 'spec.updateStrategy.rollingUpdate.maxSurge', '10%']);
  t.strictSame(render({ agent: { updateStrategy: { rollingUpdate: { maxSurge: '10%' } } } }), slower, 'one field changed, the rest kept');
});

t.test('resources change the one container they are for', async (t) => {
  const agentResources = { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } };
  const expected = edited([AGENT, 'spec.template.spec.containers.0.resources', agentResources]);
  t.strictSame(render({ agent: { resources: agentResources } }), expected);
  const controllerLimit = edited([CONTROLLER, 'spec.template.spec.containers.0.resources.limits.memory', '2Gi']);
  t.strictSame(render({ controller: { resources: { limits: { memory: '2Gi' } } } }), controllerLimit, 'a nested value merges with the defaults');
});

t.test('each monitor switch adds its own objects only', async (t) => {
  const monitorKeys = (objects: Objects): string[] => Object.keys(objects).filter((k) => !(k in DAEMONSET)).sort();
  const only = (part: string): unknown => ({ monitoring: { [part]: { enabled: true } } });
  t.strictSame(monitorKeys(defaults), [], 'off by default');
  t.strictSame(monitorKeys(render(only('podMonitors'))), ['PodMonitor meshlet-system/meshlet-agent', 'PodMonitor meshlet-system/meshlet-controller']);
  t.strictSame(monitorKeys(render(only('prometheusRule'))), ['PrometheusRule meshlet-system/meshlet']);
  const dashboards = monitorKeys(render(only('dashboards')));
  t.equal(dashboards.length, readdirSync(join(MONITORING_DIR, 'dashboards')).length, 'one ConfigMap per dashboard');
  t.ok(dashboards.every((k) => k.startsWith('ConfigMap meshlet-system/')), dashboards.join(', '));
  const labelled = render({ monitoring: { podMonitors: { enabled: true, labels: { release: 'kps', 'app.kubernetes.io/name': 'x' } }, prometheusRule: { enabled: true, labels: { release: 'kps' } } } });
  t.strictSame(labelled['PodMonitor meshlet-system/meshlet-agent']?.metadata, { name: 'meshlet-agent', namespace: 'meshlet-system', labels: { 'app.kubernetes.io/name': 'meshlet-agent', 'app.kubernetes.io/part-of': 'meshlet', release: 'kps' } }, 'extra labels added; the selector\'s own label is not overridden');
  t.strictSame((labelled['PrometheusRule meshlet-system/meshlet']?.metadata as unknown as { labels: unknown }).labels, { 'app.kubernetes.io/part-of': 'meshlet', release: 'kps' });
});

t.test('agent settings reach the command line, and meshlet agent\'s config accepts it', async (t) => {
  const objects = render({ trustDomain: 'mesh.example.com', agent: { failureMode: 'open', logLevel: 'debug', accessLog: 'sample:0.25', drainSeconds: 45 } });
  const c = containerOf(objects[AGENT]);
  t.strictSame(c.args.slice(5), ['--drain-seconds=45', '--trust-domain=mesh.example.com', '--failure-mode=open', '--log-level=debug', '--access-log=sample:0.25']);
  const grace = (objects[AGENT] as unknown as { spec: { template: { spec: { terminationGracePeriodSeconds: number } } } }).spec.template.spec.terminationGracePeriodSeconds;
  t.equal(grace, 55, 'the grace period outlasts the drain by 10 s');
  const config = loadAgentConfig(argsToFlags(c.args.slice(1)), { MESHLET_NODE: 'node-a', MESHLET_WORKERS: '2' });
  t.equal(config.failureMode, 'open');
  t.equal(config.logLevel, 'debug');
  t.strictSame(config.accessLog, { kind: 'sample', ratio: 0.25 });
  t.equal(config.trustDomain, 'mesh.example.com');
  t.equal(config.drainDeadlineMs, 45_000);
  const controllerArgs = containerOf(objects[CONTROLLER]).args;
  t.ok(controllerArgs.includes('--trust-domain=mesh.example.com'), 'the controller gets the same trust domain');
  t.equal(loadControllerConfig(argsToFlags(controllerArgs.slice(1)), { POD_NAME: 'p' }).trustDomain, 'mesh.example.com');
  t.notOk(containerOf(render({ agent: { accessLog: false } })[AGENT]).args.includes('--access-log=on'), 'an unquoted off (false) is off');
  t.ok(containerOf(render({ agent: { accessLog: false } })[AGENT]).args.includes('--access-log=off'));
});

t.test('the image values set both containers\' image and pull policy', async (t) => {
  const objects = render({ image: { repository: 'registry.example.com/meshlet', tag: '0.2.0', pullPolicy: 'Always' } });
  for (const key of [AGENT, CONTROLLER]) {
    const c = containerOf(objects[key]) as Container & { imagePullPolicy: string };
    t.equal(c.image, 'registry.example.com/meshlet:0.2.0', key);
    t.equal(c.imagePullPolicy, 'Always', key);
  }
});

t.test('an operator-provided CA: mounted from its Secret, no right to Secrets, accepted by the controller\'s config', async (t) => {
  const objects = render({ controller: { ca: { source: 'provided', provided: { secretName: 'my-ca', bundleKey: 'ca.crt' } } } });
  const c = containerOf(objects[CONTROLLER]);
  const config = loadControllerConfig(argsToFlags(c.args.slice(1)), { POD_NAME: 'p' });
  t.strictSame(config.ca, { kind: 'files', certFile: '/etc/meshlet/ca/ca.crt', keyFile: '/etc/meshlet/ca/ca.key', bundleFile: '/etc/meshlet/ca/roots.crt' });
  t.strictSame(c.volumeMounts.find((m) => m.name === 'ca'), { name: 'ca', mountPath: '/etc/meshlet/ca', readOnly: true });
  const pod = (objects[CONTROLLER] as unknown as { spec: { template: { spec: { volumes: { name: string }[]; securityContext: { fsGroup?: number } } } } }).spec.template.spec;
  t.strictSame(pod.volumes.find((v) => v.name === 'ca'), { name: 'ca', secret: { secretName: 'my-ca', defaultMode: 0o440, items: [{ key: 'tls.crt', path: 'ca.crt' }, { key: 'tls.key', path: 'ca.key' }, { key: 'ca.crt', path: 'roots.crt' }] } });
  t.equal(pod.securityContext.fsGroup, 1000, 'the non-root controller can read the 0440 files');
  const rules = (objects['Role meshlet-system/meshlet-controller'] as unknown as { rules: { resources: string[] }[] }).rules;
  t.ok(rules.length > 0, 'the Role keeps its Lease rules');
  t.strictSame(rules.filter((r) => r.resources.includes('secrets')), [], 'no rule on Secrets');
});

t.test('one controller replica: no PodDisruptionBudget (it would block every drain of its node)', async (t) => {
  const expected = edited([CONTROLLER, 'spec.replicas', 1]);
  delete expected['PodDisruptionBudget meshlet-system/meshlet-controller'];
  t.strictSame(render({ controller: { replicas: 1 } }), expected);
});

t.test('namespace.create=false leaves the Namespace out and allows a release in meshlet-system', async (t) => {
  const expected = structuredClone(defaults);
  delete expected['Namespace /meshlet-system'];
  t.strictSame(render({ namespace: { create: false } }, 'meshlet-system'), expected);
});

t.test('the chart is versioned with meshlet, and refuses a Kubernetes older than 1.30', async (t) => {
  const chart = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { version: string; appVersion: string; kubeVersion: string };
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  const kustomization = parse(readFileSync(join(REPO, 'daemonset', 'kustomization.yaml'), 'utf8')) as { images: { newTag: string }[] };
  t.equal(chart.appVersion, pkg.version, 'appVersion is package.json\'s version');
  t.equal(chart.version, pkg.version, 'the chart\'s version too: one release ships both');
  t.equal(kustomization.images[0]?.newTag, pkg.version, 'and the kustomization\'s image tag');
  const old = helm(['template', 'meshlet', CHART, '--kube-version', '1.29.9']);
  t.not(old.status, 0, 'Kubernetes 1.29 is refused');
  t.match(old.stderr, /chart requires kubeVersion: >=1\.30\.0-0 which is incompatible with Kubernetes v1\.29\.9/);
  t.equal(helm(['template', 'meshlet', CHART, '--kube-version', '1.30.0']).status, 0, '1.30 is accepted');
});

t.test('bad values fail with a message naming the value, and nothing is rendered', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['workers below 1', { agent: { workers: -1 } }, /at '\/agent\/workers'.*\n.*minimum: got -1, want 1/],
    ['workers not a number', { agent: { workers: 'many' } }, /at '\/agent\/workers'/],
    ['workers above 64', { agent: { workers: 65 } }, /at '\/agent\/workers'.*\n.*maximum: got 65, want 64/],
    ['an unknown failure mode', { agent: { failureMode: 'ajar' } }, /at '\/agent\/failureMode': value must be one of 'closed', 'open'/],
    ['a misspelt key', { agent: { wrokers: 3 } }, /at '\/agent': additional properties 'wrokers' not allowed/],
    ['an access-log ratio above 1', { agent: { accessLog: 'sample:2' } }, /at '\/agent\/accessLog'/],
    ['an unknown log level', { controller: { logLevel: 'verbose' } }, /at '\/controller\/logLevel'/],
    ['a bad trust domain', { trustDomain: 'Mesh_Example' }, /at '\/trustDomain'/],
    ['a provided CA without its Secret', { controller: { ca: { source: 'provided' } } }, /at '\/controller\/ca\/provided\/secretName': minLength: got 0, want 1/],
    ['a bad resource quantity', { agent: { resources: { limits: { memory: 'lots' } } } }, /at '\/agent\/resources\/limits\/memory'/],
  ];
  for (const [name, values, message] of cases) {
    const r = renderError(values);
    t.not(r.status, 0, `${name}: helm template fails`);
    t.match(r.stderr, message, name);
    t.equal(r.stdout, '', `${name}: nothing rendered`);
  }
  const inSystem = renderError(undefined, 'meshlet-system');
  t.not(inSystem.status, 0, 'a release in meshlet-system that would own the namespace fails');
  t.match(inSystem.stderr, /namespace\.create is true but the release is installed in meshlet-system/);
});

t.test('values cannot inject YAML: free text is quoted, names are checked by the schema', async (t) => {
  const sneaky = 'x\nkind: Secret\n"quoted": {a: 1}';
  const objects = render({ agent: { podAnnotations: { note: sneaky } }, monitoring: { dashboards: { enabled: true, folder: sneaky } } });
  t.equal(Object.keys(objects).filter((k) => k.startsWith('Secret ')).length, 0, 'no object made of a value');
  const pod = (objects[AGENT] as unknown as { spec: { template: { metadata: { annotations: Record<string, string> } } } }).spec.template.metadata;
  t.equal(pod.annotations['note'], sneaky, 'a pod annotation is the value as given');
  const dashboards = Object.entries(objects).filter(([k]) => k.startsWith('ConfigMap '));
  t.ok(dashboards.length > 0, 'the dashboards rendered');
  for (const [key, doc] of dashboards) t.equal((doc.metadata as unknown as { annotations: Record<string, string> }).annotations['grafana_folder'], sneaky, key);
  for (const [name, values] of [
    ['image.repository', { image: { repository: 'meshlet\nkind: Secret' } }],
    ['image.tag', { image: { tag: '1.0\nkind: Secret' } }],
    ['controller.ca.provided.secretName', { controller: { ca: { source: 'provided', provided: { secretName: 'a\nb: c' } } } }],
    ['controller.ca.provided.certKey', { controller: { ca: { source: 'provided', provided: { secretName: 'ca', certKey: 'k: v' } } } }],
  ] as const) {
    const r = renderError(values);
    t.not(r.status, 0, `${name} with a newline or colon is refused`);
    t.match(r.stderr, new RegExp(`at '/${name.replaceAll('.', '/')}'`), name);
  }
});

t.test('the chart\'s copies of daemonset/ files are byte-equal (crds/, files/)', async (t) => {
  const copies: [string, string][] = [
    ['charts/meshlet/crds/crds.yaml', 'daemonset/crds.yaml'],
    ['charts/meshlet/files/prometheusrule.yaml', 'daemonset/monitoring/prometheusrule.yaml'],
    ...readdirSync(join(MONITORING_DIR, 'dashboards')).map((f): [string, string] => [`charts/meshlet/files/dashboards/${f}`, `daemonset/monitoring/dashboards/${f}`]),
  ];
  t.strictSame(readdirSync(join(CHART, 'files', 'dashboards')).sort(), readdirSync(join(MONITORING_DIR, 'dashboards')).sort(), 'the same dashboards');
  for (const [copy, source] of copies) {
    t.equal(readFileSync(join(REPO, copy), 'utf8'), readFileSync(join(REPO, source), 'utf8'), `${copy} is a copy of ${source} (cp ${source} ${copy})`);
  }
});

t.test('docs/install.md documents every value of values.yaml, and only those', async (t) => {
  const docs = readFileSync(join(REPO, 'docs', 'install.md'), 'utf8');
  const start = docs.indexOf('## Install on Kubernetes with Helm');
  t.not(start, -1, 'the Helm section exists');
  const section = docs.slice(start, docs.indexOf('\n## ', start + 1));
  const documented = [...section.matchAll(/^\| `([A-Za-z0-9.]+)` \|/gm)].map((m) => m[1] as string);
  t.ok(documented.length >= 20, `${documented.length} values in the table`);
  const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const undocumented: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (documented.includes(path)) return;
    const isMap = typeof node === 'object' && node !== null && !Array.isArray(node) && Object.keys(node).length > 0;
    if (!isMap || path === '') {
      if (path !== '') undocumented.push(path);
    }
    if (isMap) for (const [k, v] of Object.entries(node)) walk(v, path === '' ? k : `${path}.${k}`);
  };
  walk(values, '');
  t.strictSame(undocumented, [], 'every value has a row');
  const valueAt = (path: string): unknown => path.split('.').reduce<unknown>((n, k) => (n as Record<string, unknown> | undefined)?.[k], values);
  t.strictSame(documented.filter((p) => valueAt(p) === undefined), [], 'every row is a value');
  // The default column is one YAML value in backticks, equal to values.yaml's.
  for (const m of section.matchAll(/^\| `([A-Za-z0-9.]+)` \| ([^|]*) \|/gm)) {
    const [, path, cell] = m as unknown as [string, string, string];
    const yaml = /^`([^`]*)`$/.exec(cell);
    t.not(yaml, null, `${path}: the default is one value in backticks (${cell})`);
    if (yaml !== null) t.strictSame(parse(yaml[1] as string) as unknown, valueAt(path), `${path}: the documented default is values.yaml's`);
  }
});
