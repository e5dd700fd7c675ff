/**
 * `meshlet demo` (what `npm start` runs): a two-node lab with a controller (the lab's config/
 * is its YAML registry) and real agents joined to it, a meshed client and server, a non-meshed
 * legacy pod, and a STRICT server. It sends traffic, enrolls a namespace by label at run time,
 * shows what the agents logged and the capture rules, prints what to try, and stays up until
 * Ctrl-C (or exits at once with --exit, or when there is no terminal to press Ctrl-C in).
 */
import { once } from 'node:events';
import { join } from 'node:path';
import type { Command } from 'commander';
import { REPO_ROOT, defaultLabTopology, withLab, type Lab, type LabTopology } from '../lab/index.js';
import { MESH_ENABLED, MESH_LABEL } from '../mesh/types.js';

const APP = join(REPO_ROOT, 'dist/src/cli/demo-app.js');

/** The demo topology: the lab's default plus a STRICT server (`vault`) on node2. */
export function demoTopology(name = 'demo'): LabTopology {
  const base = defaultLabTopology({ name, nodes: 2 });
  return {
    ...base,
    namespaces: base.namespaces.map((n) => (n.name === 'demo' ? { ...n, labels: { [MESH_LABEL]: MESH_ENABLED } } : n)),
    pods: [...base.pods, { name: 'vault', namespace: 'demo', node: 'node2', serviceAccount: 'vault', labels: { app: 'vault' } }],
    services: [...base.services, { name: 'vault', namespace: 'demo', selector: { app: 'vault' }, ports: [{ name: 'tcp', port: 80, targetPort: 8080 }] }],
    meshTLS: [{ name: 'vault-strict', namespace: 'demo', mode: 'STRICT', selector: { app: 'vault' } }],
  };
}

/** Adds `meshlet demo`. */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('build a two-node lab with a controller and real agents, send meshed traffic, enroll a namespace, show what happened')
    .option('--exit', 'tear the lab down right after the walkthrough')
    .option('--name <name>', 'lab name ([a-z0-9]{1,8})', 'demo')
    .action(async (opts: { exit?: boolean; name: string }) => {
      const stay = opts.exit !== true && process.stdin.isTTY === true;
      const ok = await withLab(demoTopology(opts.name), { controller: true }, (lab, signal) => walkthrough(lab, stay, signal));
      process.exitCode = ok ? 0 : 1;
    });
}

async function call(lab: Lab, pod: string, host: string, port: number, message: string): Promise<string> {
  const r = await lab.runNode(pod, APP, ['call', host, String(port), message], { timeoutMs: 10_000 });
  return r.stdout.trim() || r.stderr.trim();
}

function step(title: string): void {
  process.stdout.write(`\n== ${title}\n`);
}

function accessLines(lab: Lab, node: string): string[] {
  return lab
    .agentLog(node)
    .split('\n')
    .filter((l) => l.includes('"connection closed"'))
    .map((l) => {
      const j = JSON.parse(l) as Record<string, unknown>;
      return `  ${node}: ${String(j['direction'])} ${String(j['mode'])} ${String(j['src'])} -> ${String(j['dst'])} ${String(j['src_identity'] ?? '-')} -> ${String(j['dst_identity'] ?? '-')} [${String(j['security_policy'])}] ${String(j['outcome'])}`;
    });
}

async function walkthrough(lab: Lab, stay: boolean, signal: AbortSignal): Promise<boolean> {
  for (const [pod, name] of [['server', 'server'], ['vault', 'vault'], ['legacy', 'legacy']] as const) {
    const child = lab.spawnNode(pod, APP, ['serve', '8080', name]);
    await once(child.stdout!, 'data');
  }
  const vip = lab.serviceVip('demo', 'server');
  const vaultVip = lab.serviceVip('demo', 'vault');
  console.log(`meshlet demo lab is up: 2 nodes (${lab.nodeAddress('node1')}, ${lab.nodeAddress('node2')}), agents ready.`);

  step(`client (node1, meshed) -> Service demo/server ${vip}:80 -> server pod on node2`);
  const meshed = await call(lab, 'client', vip, 80, 'hello over mTLS');
  console.log(`  ${meshed}`);
  step(`client -> Service demo/vault ${vaultVip}:80 (MeshTLS STRICT): allowed, it is mTLS`);
  const strictOk = await call(lab, 'client', vaultVip, 80, 'hello vault');
  console.log(`  ${strictOk}`);
  step(`legacy (not meshed) -> vault pod ${lab.podAddress('vault')}:8080 in plaintext: refused by STRICT`);
  const refused = await call(lab, 'legacy', lab.podAddress('vault'), 8080, 'let me in');
  console.log(`  ${refused}`);
  step(`legacy -> server pod ${lab.podAddress('server')}:8080 in plaintext: allowed (PERMISSIVE)`);
  const permissive = await call(lab, 'legacy', lab.podAddress('server'), 8080, 'plain hello');
  console.log(`  ${permissive}`);

  step('label namespace legacy meshlet.io/mesh=enabled in the registry (no restart of anything)');
  lab.setNamespaceLabels('legacy', { [MESH_LABEL]: MESH_ENABLED });
  const enrolled = await waitFor(async () => (await lab.exec(lab.plan.pods.find((p) => p.name === 'legacy')?.node ?? 'node2', 'iptables-save', ['-t', 'nat'])).stdout.includes(`-s ${lab.podAddress('legacy')}/32`), 10_000);
  console.log(`  legacy is ${enrolled ? 'now captured by its node agent' : 'NOT captured after 10 s'}`);
  const nowMeshed = await call(lab, 'legacy', vaultVip, 80, 'hello vault, I am meshed now');
  console.log(`  legacy -> Service demo/vault: ${nowMeshed}`);

  await new Promise((r) => setTimeout(r, 300));
  step('what the agents logged (one access-log line per connection)');
  for (const l of [...accessLines(lab, 'node1'), ...accessLines(lab, 'node2')]) console.log(l);
  step('capture rules on node1 (nat table, meshlet chains)');
  const rules = await lab.exec('node1', 'iptables-save', ['-t', 'nat']);
  for (const l of rules.stdout.split('\n').filter((x) => x.includes('MESHLET'))) console.log(`  ${l}`);

  const ok =
    meshed.startsWith('server got') &&
    strictOk.startsWith('vault got') &&
    refused.startsWith('FAILED') &&
    permissive.startsWith('server got') &&
    enrolled &&
    nowMeshed.startsWith('vault got');
  step(ok ? 'all checks behaved as expected' : 'SOMETHING DID NOT BEHAVE AS EXPECTED (see above and the agent logs)');
  console.log(`
Things to try while the lab is up (in another terminal):
  node dist/src/cli/main.js lab exec --name ${lab.name} client -- node dist/src/cli/demo-app.js call ${vip} 80 hi
  ip netns exec ml-${lab.name}-node1 iptables -t nat -S          # the capture rules
  ip netns exec ml-${lab.name}-fabric tcpdump -ni any -A port 15008   # only TLS crosses the fabric
  tail -f ${join(lab.dir, 'logs', 'node1.log')}           # agent JSON logs
  tail -f ${join(lab.dir, 'logs', 'controller.log')}      # controller JSON logs
  edit ${join(lab.dir, 'config')}/*.yaml                   # the registry: changes reach the agents in a second
  ip netns exec ml-${lab.name}-node1 node dist/src/cli/main.js iptables verify --workload-ip ${lab.podAddress('client')}
`);
  if (!stay) {
    console.log('Not on a terminal (or --exit): tearing the lab down.');
    return ok;
  }
  console.log('Press Ctrl-C to tear the lab down.');
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  return ok;
}

async function waitFor(pred: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
