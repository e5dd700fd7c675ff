/**
 * The controller's wiring of `meshlet_controller_leader`: without leader election (a YAML
 * registry, one replica) the controller serves agents from the start, says 1, and its /ready
 * says so.
 * The standby's 0 and the hand-over are in test/unit/controller/leader-metric.test.ts.
 */
import t from 'tap';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createJoinToken } from '../../../src/controller/auth/join-token-edit.js';
import { loadControllerConfig } from '../../../src/controller/config.js';
import { Controller } from '../../../src/controller/controller.js';
import { waitFor } from '../../helpers/wait-for.js';

const FIXTURE = fileURLToPath(new URL('../../../../test/fixtures/mesh/two-node/', import.meta.url));

t.test('a controller without leader election says it leads', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-ctl-leader-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const registry = join(dir, 'registry');
  cpSync(FIXTURE, registry, { recursive: true });
  const joinTokens = join(dir, 'join-tokens.yaml');
  await createJoinToken(joinTokens, { node: 'node-a' }); // agents need a way in
  const config = loadControllerConfig({ registry, joinTokens, listen: '127.0.0.1:0', metricsPort: '0', debugPort: '0', stateDir: join(dir, 'state') }, {});
  t.equal(config.leaderElection, undefined, 'no leader election with a YAML registry');
  const controller = new Controller(config, pino({ level: 'silent' }));
  await controller.start();
  t.teardown(() => controller.close());
  const text = await (await fetch(`http://127.0.0.1:${controller.metricsBound?.port ?? 0}/metrics`)).text();
  t.match(text, /^# TYPE meshlet_controller_leader gauge$/m, 'the gauge is exported');
  t.match(text, /^meshlet_controller_leader 1$/m, 'and says 1');
  // Ready once the first state is published (the registry's debounce after the start).
  await waitFor('the first state', () => controller.health().pending.length === 0);
  const ready = await fetch(`http://127.0.0.1:${controller.metricsBound?.port ?? 0}/ready`);
  t.equal(ready.status, 200, 'serving agents: ready');
  t.same(await ready.json(), { ready: true, role: 'single', pending: [] });
  t.same(controller.health(), { role: 'single', pending: [] });
  const closing = controller.close();
  t.same(controller.health().pending.includes('draining'), true, 'a stopping controller says it drains');
  await closing;
});
