/**
 * How Prometheus finds meshlet's metrics: the prometheus.io/* annotations on the agent's and
 * the controller's pod templates, and the Prometheus Operator's PodMonitors in
 * daemonset/monitoring/. Each names the port the process binds with the manifest's own
 * command line (its config loader's answer), through the container port of that number, a path
 * the metrics server answers, and selects the pods of its workload (and only those).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { loadControllerConfig } from '../../../src/controller/config.js';
import { METRICS_PATHS } from '../../../src/ops/prometheus-server.js';
import { argsToFlags, findObject, loadManifests, REPO, yamlDocuments, type KubeDoc } from './install-files.js';

interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: { name: string; args: string[]; ports?: { name?: string; containerPort: number }[] }[] };
}
interface Workload extends KubeDoc {
  spec: { selector: { matchLabels: Record<string, string> }; template: PodTemplate };
}
interface PodMonitor extends KubeDoc {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: {
    selector: { matchLabels?: Record<string, string> };
    namespaceSelector?: unknown;
    podMetricsEndpoints: { port?: string; portNumber?: number; path?: string; interval?: string; relabelings?: { sourceLabels?: string[]; targetLabel?: string }[] }[];
  };
}

const entries = loadManifests();
const agent = findObject(entries, 'DaemonSet', 'meshlet-agent') as Workload;
const controller = findObject(entries, 'Deployment', 'meshlet-controller') as Workload;

/** The port each process binds for its metrics, from the manifest's command line. */
const metricsPort = {
  agent: loadAgentConfig(argsToFlags((agent.spec.template.spec.containers[0]?.args ?? []).slice(1)), { MESHLET_NODE: 'node-a' }).ports.metrics,
  controller: loadControllerConfig(argsToFlags((controller.spec.template.spec.containers[0]?.args ?? []).slice(1)), { POD_NAME: 'meshlet-controller-0' }).metricsPort,
};

function monitor(file: string): PodMonitor {
  const path = join(REPO, 'daemonset', 'monitoring', file);
  const docs = yamlDocuments(readFileSync(path, 'utf8'), path);
  if (docs.length !== 1) throw new Error(`${file}: expected one object, got ${docs.length}`);
  return docs[0] as PodMonitor;
}

/** Whether every label of `selector` is on the pod with the same value. */
function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

const cases = [
  { name: 'agent', workload: agent, port: metricsPort.agent, file: 'podmonitor-agent.yaml', other: controller },
  { name: 'controller', workload: controller, port: metricsPort.controller, file: 'podmonitor-controller.yaml', other: agent },
] as const;

for (const c of cases) {
  const template = c.workload.spec.template;
  const container = template.spec.containers[0];

  t.test(`${c.name}: the prometheus.io annotations name the metrics port and path`, async (t) => {
    t.equal(c.port, c.name === 'agent' ? 15020 : 15014, 'the port the process binds');
    const a = template.metadata.annotations ?? {};
    t.equal(a['prometheus.io/scrape'], 'true');
    t.equal(a['prometheus.io/port'], String(c.port), 'the port the process binds');
    // The agent's hostNetwork pod declares no ports: they would be hostPorts, and block the surge pod of a rollout.
    if (c.name === 'agent') t.equal(container?.ports, undefined, 'no container ports (hostPorts) on the agent');
    else t.same(container?.ports?.filter((p) => p.containerPort === c.port).map((p) => p.name), ['metrics'], 'a container port named metrics');
    t.equal(METRICS_PATHS.includes(a['prometheus.io/path'] ?? ''), true, `${a['prometheus.io/path']} is served`);
  });

  t.test(`${c.name}: the PodMonitor selects its pods and scrapes the metrics port`, async (t) => {
    const m = monitor(c.file);
    t.same([m.apiVersion, m.kind], ['monitoring.coreos.com/v1', 'PodMonitor']);
    t.equal(m.metadata.namespace, 'meshlet-system', 'beside the pods: no namespaceSelector needed');
    t.equal(m.spec.namespaceSelector, undefined);
    t.equal(m.metadata.labels?.['app.kubernetes.io/part-of'], 'meshlet');
    const selector = m.spec.selector.matchLabels ?? {};
    t.not(Object.keys(selector).length, 0, 'a selector with labels');
    t.equal(selects(selector, template.metadata.labels), true, 'selects the pod template');
    t.equal(selects(selector, c.other.spec.template.metadata.labels), false, 'and not the other workload\'s pods');
    t.same(selector, c.workload.spec.selector.matchLabels, 'the workload\'s own selector');
    t.equal(m.spec.podMetricsEndpoints.length, 1);
    const [ep] = m.spec.podMetricsEndpoints;
    const port = ep?.portNumber ?? container?.ports?.find((p) => p.name === ep?.port)?.containerPort;
    t.equal(port, c.port, `port ${ep?.port ?? ep?.portNumber} is the port the process binds`);
    t.equal(METRICS_PATHS.includes(ep?.path ?? ''), true, `${ep?.path} is served`);
    t.match(ep?.interval ?? '', /^\d+s$/, 'an interval in seconds');
  });
}

t.test('the agents\' PodMonitor labels each target with its node', async (t) => {
  const relabel = monitor('podmonitor-agent.yaml').spec.podMetricsEndpoints[0]?.relabelings ?? [];
  t.same(relabel.map((r) => [r.sourceLabels, r.targetLabel]), [[['__meta_kubernetes_pod_node_name'], 'node']]);
});

t.test('the monitoring kustomization lists both PodMonitors', async (t) => {
  const k = parse(readFileSync(join(REPO, 'daemonset', 'monitoring', 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  for (const file of ['podmonitor-agent.yaml', 'podmonitor-controller.yaml']) t.equal(k.resources.filter((r) => r === file).length, 1, `${file} listed once`);
});
