/**
 * The Kubernetes-style objects a lab writes into `<labdir>/config/` for agents in static mode:
 * Namespaces, Nodes, Pods, Services and MeshTLS objects, one multi-document YAML file per kind.
 * Pure: returns file names and their text; `lab-files.ts` writes them.
 *
 * @module
 */

import { stringify } from 'yaml';
import type { LabPlan, PodPlan, ServicePlan } from './addressing.js';

/** A YAML document as plain data. */
export type ManifestObject = Record<string, unknown>;

function selects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => labels[k] === selector[k]);
}

function podManifest(plan: LabPlan, pod: PodPlan): ManifestObject {
  // Container ports: the target ports of the Services selecting this pod, so the objects
  // read like a real cluster's (Kubernetes does not require them for numeric targetPorts).
  const ports = new Set<number>();
  for (const s of plan.services) {
    if (s.namespace === pod.namespace && selects(s.selector, pod.labels)) {
      for (const p of s.ports) ports.add(p.targetPort);
    }
  }
  const container: ManifestObject = { name: 'app', image: 'lab' };
  if (ports.size > 0) {
    container['ports'] = [...ports].sort((a, b) => a - b).map((p) => ({ containerPort: p, protocol: 'TCP' }));
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: pod.name, namespace: pod.namespace, labels: { ...pod.labels }, ...(pod.annotations === undefined ? {} : { annotations: { ...pod.annotations } }) },
    spec: { nodeName: pod.node, serviceAccountName: pod.serviceAccount, containers: [container] },
    status: { phase: 'Running', podIP: pod.address, podIPs: [{ ip: pod.address }] },
  };
}

function serviceManifest(s: ServicePlan): ManifestObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace, ...(s.annotations === undefined ? {} : { annotations: { ...s.annotations } }) },
    spec: {
      type: 'ClusterIP',
      clusterIP: s.vip,
      clusterIPs: [s.vip],
      selector: { ...s.selector },
      ports: s.ports.map((p) => ({
        ...(p.name === undefined ? {} : { name: p.name }),
        protocol: 'TCP',
        port: p.port,
        targetPort: p.targetPort,
        ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol }),
      })),
    },
  };
}

/** Every object of the plan, grouped by the file it goes to (`namespaces.yaml`, ...). */
export function labManifests(plan: LabPlan): Map<string, ManifestObject[]> {
  const files = new Map<string, ManifestObject[]>();
  files.set(
    'namespaces.yaml',
    plan.namespaces.map((n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n.name, labels: { ...n.labels } } })),
  );
  files.set(
    'nodes.yaml',
    plan.nodes.map((n) => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: n.name, ...(n.labels === undefined ? {} : { labels: { ...n.labels } }) },
      spec: { podCIDR: n.podCidr },
      status: { addresses: [{ type: 'InternalIP', address: n.address }] },
    })),
  );
  files.set('pods.yaml', plan.pods.map((p) => podManifest(plan, p)));
  files.set('services.yaml', plan.services.map(serviceManifest));
  if (plan.meshTLS.length > 0) {
    files.set(
      'meshtls.yaml',
      plan.meshTLS.map((m) => ({
        apiVersion: 'meshlet.io/v1alpha1',
        kind: 'MeshTLS',
        metadata: { name: m.name, namespace: m.namespace },
        spec: { mode: m.mode, ...(m.selector === undefined ? {} : { selector: { matchLabels: { ...m.selector } } }) },
      })),
    );
  }
  return files;
}

/** Renders objects as one multi-document YAML text (`---` between documents). */
export function renderYamlDocuments(objects: readonly ManifestObject[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

/** File name to YAML text for every object kind the plan has (kinds without objects get no file). */
export function renderLabConfig(plan: LabPlan): Map<string, string> {
  const out = new Map<string, string>();
  for (const [file, objects] of labManifests(plan)) {
    if (objects.length > 0) out.set(file, renderYamlDocuments(objects));
  }
  return out;
}
