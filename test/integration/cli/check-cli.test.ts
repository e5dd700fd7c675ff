/**
 * `meshlet check` (the installed mesh) against a real agent in-process (its admin API) and a
 * real controller (its debug port) with real agent clients: all ✔ on a healthy mesh, exit 0;
 * then each fault named with exit 1: capture rules drifted on this node, an agent that refuses
 * its snapshot, one that left, and the controller down.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import t from 'tap';
import { ControllerClient } from '../../../src/agent/control/client.js';
import { meshChecks } from '../../../src/cli/check-command.js';
import type { CheckResult } from '../../../src/cli/check-pre.js';
import { createJoinToken } from '../../../src/controller/auth/join-token-edit.js';
import { loadControllerConfig } from '../../../src/controller/config.js';
import { Controller } from '../../../src/controller/controller.js';
import { waitFor } from '../../helpers/wait-for.js';
import { adminRig } from '../agent/admin-rig.js';

const FIXTURE = fileURLToPath(new URL('../../../../test/fixtures/mesh/two-node/', import.meta.url));
const logger = pino({ level: 'silent' });

const failures = (results: readonly CheckResult[]): Array<[string, string]> => results.filter((r) => r.outcome === 'fail').map((r) => [r.name, r.detail]);

t.test('check: a healthy mesh is all ✔; drift, a NACKing agent, a departed one and a stopped controller are named', async (t) => {
  const rig = await adminRig(t);
  rig.capture.drift = { inSync: true, detail: {} };
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(FIXTURE, join(dir, 'registry'), { recursive: true });
  const tokens = join(dir, 'tokens.yaml');
  const a = await createJoinToken(tokens, { node: 'node-a' });
  const b = await createJoinToken(tokens, { node: 'node-b' });
  const config = loadControllerConfig({ registry: join(dir, 'registry'), joinTokens: tokens, listen: '127.0.0.1:0', metricsPort: '0', debugPort: '0', stateDir: join(dir, 'state'), debounceMs: '20' }, {});
  const controller = new Controller(config, logger);
  const bound = await controller.start();
  let stopped = false;
  t.teardown(() => (stopped ? undefined : controller.close()));
  let refuse = false;
  const clients = ['node-a', 'node-b'].map((node, i) => {
    const client = new ControllerClient({
      address: `127.0.0.1:${bound.port}`,
      caPem: readFileSync(join(dir, 'state', 'ca', 'ca.crt'), 'utf8'),
      node,
      credentials: async () => (i === 0 ? a : b).token,
      trustDomain: 'cluster.local',
      logger,
      onSnapshot: async () => {
        if (node === 'node-b' && refuse) throw new Error('capture rules could not be applied');
      },
    });
    client.start();
    t.teardown(() => client.close());
    return client;
  });
  await waitFor('both agents on the version in force', () => controller.proxyStatus().agents.filter((r) => r.state === 'SYNCED').length === 2);
  const flags = { admin: rig.admin, adminTokenFile: rig.tokenFile, controller: `127.0.0.1:${controller.debugBound?.port ?? 0}`, output: 'text' as const };

  const healthy = await meshChecks(flags);
  t.same(failures(healthy), [], 'nothing fails');
  t.same(healthy.filter((r) => r.outcome === 'warn'), [], 'nothing warns');
  t.same(healthy.map((r) => r.name), ['agent', 'snapshot', 'certificates', 'capture rules', 'ready', 'controller', 'agent node-a', 'agent node-b']);

  rig.capture.drift = { inSync: false, detail: { ipv4: { inSync: false, missing: ['-A MESHLET_OUTPUT x'], unexpected: [] } } };
  t.match(failures(await meshChecks(flags)), [['capture rules', /drifted \(ipv4 1 missing, 0 unexpected\)/]], 'rule drift on this node');
  rig.capture.drift = { inSync: true, detail: {} };

  // node-a leaves; node-b refuses the next version (a Service added to the registry).
  await clients[0]?.close();
  await waitFor('node-a gone', () => controller.proxyStatus().agents.find((r) => r.node === 'node-a')?.connected === false);
  refuse = true;
  writeFileSync(join(dir, 'registry', 'zz-extra.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: extra, namespace: demo}\nspec: {clusterIP: 198.19.9.9, selector: {app: extra}, ports: [{port: 80}]}\n');
  await waitFor('node-b refused the new version', () => controller.proxyStatus().agents.find((r) => r.node === 'node-b')?.state === 'NACKED');
  const faults = failures(await meshChecks(flags));
  t.match(faults, [['agent node-a', 'not connected to the controller'], ['agent node-b', /^refused \S+: the agent could not apply it: capture rules could not be applied$/]], 'an agent that left, one that refused its snapshot, with its reason');

  await controller.close();
  stopped = true;
  const down = await meshChecks(flags);
  t.match(failures(down), [['controller', /did not answer/]], 'the controller down, named when --controller was given');
  const { controller: _given, ...unaskedFlags } = flags;
  const unasked = await meshChecks(unaskedFlags);
  t.match(unasked.find((r) => r.name === 'controller'), { outcome: 'warn', detail: /^not checked/ }, 'not given and not answering: a warning');
});
