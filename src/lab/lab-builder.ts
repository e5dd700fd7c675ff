/**
 * Runs the `ip` commands of a plan in order. On the first failure it removes every namespace
 * of the lab (so nothing half-built is left) and throws the failure, naming the command.
 *
 * @module
 */

import { isMeshletError, MeshletError } from '../mesh/errors.js';
import type { LabPlan } from './addressing.js';
import { runIp } from './host-command.js';
import { buildNetnsCommands } from './netns-commands.js';
import { removeLabNetns } from './netns-cleanup.js';

/** Builds the plan's namespaces, bridge, veths, addresses, routes and sysctls. */
export async function buildLabNetwork(plan: LabPlan): Promise<void> {
  const commands = buildNetnsCommands(plan);
  for (const [i, args] of commands.entries()) {
    try {
      await runIp(args);
    } catch (err) {
      const cleanup = await removeLabNetns(plan.lab).then(
        () => '',
        (cleanupErr: unknown) => `; cleanup also failed: ${cleanupErr instanceof Error ? cleanupErr.message : String(cleanupErr)}`,
      );
      const why = err instanceof Error ? err.message : String(err);
      throw new MeshletError(
        isMeshletError(err) ? err.code : 'MESHLET_ERR_LAB',
        `building lab ${plan.lab} failed at step ${i + 1}/${commands.length} (ip ${args.join(' ')}): ${why}${cleanup}`,
        { cause: err },
      );
    }
  }
}
