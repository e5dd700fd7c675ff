import t from 'tap';
import { spawnSync } from 'node:child_process';
import { requireNamespaces } from '../helpers/require-root.js';
import { captureScenarios } from './capture-scenarios.js';

// Capture rules through the real kernel with the legacy (x_tables) backend: hosts whose
// kube-proxy still runs iptables-legacy get their rules there.
function legacyUnavailable(): string | null {
  const res = spawnSync('iptables-legacy', ['--version'], { encoding: 'utf8', timeout: 5000 });
  return res.status === 0 ? null : `iptables-legacy does not run: ${res.error?.message ?? res.stderr.trim()}`;
}

if (requireNamespaces(t)) {
  const why = legacyUnavailable();
  if (why === null) captureScenarios(t, 'legacy');
  else {
    console.error(`LEGACY IPTABLES TESTS NOT RUN: ${why}`);
    if (process.env['CI'] === 'true') t.fail(`legacy iptables tests must run in CI: ${why}`);
    else t.plan(0, `LEGACY IPTABLES TESTS NOT RUN: ${why}`);
  }
}
