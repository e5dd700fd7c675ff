import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Lab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

const topology: LabTopology = {
  name: 'tyaml',
  nodes: [{ name: 'n1' }, { name: 'n2' }],
  namespaces: [
    { name: 'shop', labels: { 'meshlet.io/mesh': 'enabled' } },
    { name: 'old', labels: {} },
  ],
  pods: [
    { name: 'web', namespace: 'shop', node: 'n1', serviceAccount: 'web', labels: { app: 'web' } },
    { name: 'db', namespace: 'shop', node: 'n2', labels: { app: 'db' }, meshDisabled: true },
    { name: 'cron', namespace: 'old', node: 'n2' },
  ],
  services: [{ name: 'web', namespace: 'shop', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'http' }] }],
  meshTLS: [{ name: 'strict', namespace: 'shop', mode: 'STRICT', selector: { app: 'web' } }],
};

type Doc = Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string } };

function readDocs(dir: string): Doc[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as Doc));
}

t.test('config/ holds the objects the topology says, with the lab addresses', async (t) => {
  if (!requireNamespaces(t)) return;
  const lab = await Lab.up(topology, { agents: false });
  t.teardown(() => lab.down());
  const docs = readDocs(join(lab.dir, 'config'));
  const find = (kind: string, name: string): Doc | undefined => docs.find((d) => d.kind === kind && d.metadata.name === name);

  t.same(docs.map((d) => d.kind).sort(), ['MeshTLS', 'Namespace', 'Namespace', 'Node', 'Node', 'Pod', 'Pod', 'Pod', 'Service']);
  t.same(find('Namespace', 'shop')?.['metadata'], { name: 'shop', labels: { 'meshlet.io/mesh': 'enabled' } });
  t.same(find('Node', 'n2')?.['status'], { addresses: [{ type: 'InternalIP', address: lab.nodeAddress('n2') }] });
  t.has(find('Pod', 'web'), {
    metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' } },
    spec: { nodeName: 'n1', serviceAccountName: 'web', containers: [{ name: 'app', image: 'lab', ports: [{ containerPort: 8080 }] }] },
    status: { podIP: lab.podAddress('web'), podIPs: [{ ip: lab.podAddress('web') }] },
  });
  t.has(find('Pod', 'db'), { metadata: { labels: { app: 'db', 'meshlet.io/mesh': 'disabled' } }, spec: { serviceAccountName: 'default' } });
  t.has(find('Service', 'web'), {
    apiVersion: 'v1',
    spec: {
      clusterIP: lab.serviceVip('shop', 'web'),
      clusterIPs: [lab.serviceVip('shop', 'web')],
      selector: { app: 'web' },
      ports: [{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'http', protocol: 'TCP' }],
    },
  });
  t.has(find('MeshTLS', 'strict'), {
    apiVersion: 'meshlet.io/v1alpha1',
    metadata: { namespace: 'shop' },
    spec: { mode: 'STRICT', selector: { matchLabels: { app: 'web' } } },
  });

  lab.writeConfig('extra.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: late\n');
  const key = (d: Doc): string => `${d.kind} ${d.metadata.name}`;
  const before = new Set(docs.map(key));
  t.same(readDocs(join(lab.dir, 'config')).map(key).filter((k) => !before.has(k)), ['Namespace late'], 'writeConfig adds a file');
  t.throws(() => lab.writeConfig('../escape.yaml', ''), /plain \*\.yaml name/);
});
