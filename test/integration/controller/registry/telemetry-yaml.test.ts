/**
 * A Telemetry object in the YAML directory source: a valid one reaches the published state; a
 * bad edit is rejected with an error naming the file, object, field and value, and the previous
 * state (with its tracing settings) stays; the fix publishes again.
 */
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { PublishedState } from '../../../../src/controller/contracts.js';
import { YamlDirectorySource } from '../../../../src/controller/registry/yaml-directory-source.js';
import { StateStore } from '../../../../src/controller/state-store.js';
import { waitFor } from '../../../helpers/wait-for.js';

const telemetry = (collector: string, pct: string): string =>
  `apiVersion: meshlet.io/v1alpha1\nkind: Telemetry\nmetadata: {name: mesh, namespace: meshlet-system}\nspec:\n  tracing: {collector: "${collector}", samplingPercentage: ${pct}}\n`;

t.test('a bad Telemetry edit is rejected naming the field; the previous tracing stays', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-telemetry-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'telemetry.yaml');
  await writeFile(file, telemetry('http://otel:4318', '10'));
  const source = new YamlDirectorySource({ dir, logger: pino({ level: 'silent' }), resyncMs: 0 });
  t.teardown(() => source.close());
  const store = new StateStore({ logger: pino({ level: 'silent' }) });
  t.teardown(() => store.close());
  const seen: PublishedState[] = [];
  store.subscribe((s) => seen.push(s));
  await source.start();
  store.addSource(source);
  await waitFor('the first version', () => seen.length === 1);
  t.same(seen[0]?.state.telemetry, [{ namespace: 'meshlet-system', name: 'mesh', creationTimestamp: 0, tracing: { collector: 'http://otel:4318', samplingPercentage: 10 } }]);
  const good = store.current();

  await writeFile(file, telemetry('http://otel:4318', '250'));
  await waitFor('the rejection', () => store.status().rejections === 1);
  const err = store.status().lastError;
  t.equal(err?.code, 'MESHLET_ERR_OBJECT_INVALID');
  t.same(err?.details, [`${file}:5 (document 1): Telemetry meshlet-system/mesh: spec.tracing.samplingPercentage: must be a number from 0 to 100, got 250`]);
  t.equal(store.current(), good, 'the previous state stays');
  t.equal(seen.length, 1, 'nothing published while broken');

  await writeFile(file, telemetry('http://otel-2:4318', '5'));
  await waitFor('the fix', () => seen.length === 2);
  t.same(seen[1]?.state.telemetry[0]?.tracing, { collector: 'http://otel-2:4318', samplingPercentage: 5 });
  t.equal(store.status().lastError, undefined);
});
