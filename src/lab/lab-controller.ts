/**
 * A lab's controller: one `meshlet controller` process in the fabric namespace, listening on
 * {@link CONTROLLER_ADDRESS} (an address on the fabric bridge every node reaches directly),
 * reading the lab's `config/` as its YAML registry, with one join token per node.
 *
 * @module
 */

import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CONTROLLER_ADDRESS, type LabPlan } from './addressing.js';
import { AgentProcess, CONTROLLER_READY_MSG, type AgentCommand } from './agent-process.js';
import type { LabPaths } from './lab-files.js';

/** The controller's gRPC port. */
export const CONTROLLER_PORT = 15012;

/** What a controller command is built from. */
export interface ControllerContext {
  readonly netns: string;
  /** `host:port` the controller serves agents on. */
  readonly listen: string;
  /** The YAML registry: the lab's `config/`. */
  readonly registryDir: string;
  /** The controller's state (its CA lives in `<stateDir>/ca`). */
  readonly stateDir: string;
  /** Join-token hashes, one per node. */
  readonly joinTokensFile: string;
  readonly logFile: string;
}

/** What an agent needs to join the lab's controller. */
export interface LabControllerInfo {
  /** `host:port`. */
  readonly address: string;
  /** The mesh root the controller's certificate chains to (exists once the controller is ready). */
  readonly caFile: string;
  /** This node's join token, 0600. */
  readonly tokenFile: string;
}

/** `node <repo>/dist/src/cli/main.js controller --registry ... --state-dir ... --listen ...`. */
export function defaultControllerCommand(repoRoot: string, ctx: ControllerContext): AgentCommand {
  return {
    command: process.execPath,
    args: [
      join(repoRoot, 'dist/src/cli/main.js'), 'controller',
      '--registry', ctx.registryDir,
      '--state-dir', ctx.stateDir,
      '--listen', ctx.listen,
      '--join-tokens', ctx.joinTokensFile,
      '--log-level', 'info',
    ],
  };
}

/** Paths of a lab's controller files. */
export function controllerPaths(paths: LabPaths): { stateDir: string; joinTokensFile: string; tokensDir: string; caFile: string } {
  const stateDir = join(paths.stateDir, 'controller');
  return {
    stateDir,
    joinTokensFile: join(paths.stateDir, 'join-tokens.yaml'),
    tokensDir: join(paths.stateDir, 'tokens'),
    caFile: join(stateDir, 'ca', 'ca.crt'),
  };
}

/**
 * Makes one random join token per node: the token in `tokens/<node>.token` (0600, for the
 * agent) and only its SHA-256 in `join-tokens.yaml` (for the controller).
 */
export function writeJoinTokens(paths: LabPaths, plan: LabPlan): void {
  const { tokensDir, joinTokensFile, stateDir } = controllerPaths(paths);
  mkdirSync(tokensDir, { recursive: true, mode: 0o700 });
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const tokens = plan.nodes.map((n) => {
    // The controller's token format: a recognisable prefix, 256 random bits.
    const token = `mjt_${randomBytes(32).toString('base64url')}`;
    const file = join(tokensDir, `${n.name}.token`);
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    return { node: n.name, sha256: createHash('sha256').update(token).digest('hex') };
  });
  writeFileSync(joinTokensFile, stringify({ tokens }), { mode: 0o600 });
}

/** How agents of this lab reach its controller. */
export function controllerInfo(paths: LabPaths, node: string): LabControllerInfo {
  const { tokensDir, caFile } = controllerPaths(paths);
  return { address: `${CONTROLLER_ADDRESS}:${CONTROLLER_PORT}`, caFile, tokenFile: join(tokensDir, `${node}.token`) };
}

/** The controller process of a lab. */
export function controllerProcess(plan: LabPlan, paths: LabPaths, command: (ctx: ControllerContext) => AgentCommand): AgentProcess {
  const { stateDir, joinTokensFile } = controllerPaths(paths);
  const logFile = join(paths.logsDir, 'controller.log');
  const ctx: ControllerContext = {
    netns: plan.fabricNetns,
    listen: `${CONTROLLER_ADDRESS}:${CONTROLLER_PORT}`,
    registryDir: paths.configDir,
    stateDir,
    joinTokensFile,
    logFile,
  };
  return new AgentProcess('controller', plan.fabricNetns, command(ctx), logFile, CONTROLLER_READY_MSG);
}
