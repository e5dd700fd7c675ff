/**
 * meshlet's lab: real topologies in network namespaces on one host (demo, e2e tests,
 * benchmarks). See `docs/lab.md`.
 *
 * @module
 */

export type { LabMeshTLS, LabNamespace, LabNode, LabPod, LabService, LabServicePort, LabTopology } from './topology.js';
export { DEFAULT_LAB_BASE_DIR, fabricNetnsName, memberNetnsName, netnsPrefix } from './topology.js';
export { parseLabTopology } from './topology-parse.js';
export { labTopologyProblems, validateLabTopology } from './topology-validate.js';
export type { LabPlan, NodePlan, PodPlan, ServicePlan, ServicePortPlan } from './addressing.js';
export { CONTROLLER_ADDRESS, FABRIC_CIDR, POD_GATEWAY, SERVICE_CIDR, ipv4InCidr, planLab } from './addressing.js';
export { buildNetnsCommands } from './netns-commands.js';
export { labManifests, renderLabConfig } from './mesh-objects.js';
export type { AgentCommand, AgentExit } from './agent-process.js';
export { AGENT_READY_MSG, CONTROLLER_READY_MSG, isAgentReadyLine } from './agent-process.js';
export type { CommandResult, RunCommandOptions } from './host-command.js';
export type { AgentContext, LabOptions, LabSpawnOptions } from './lab.js';
export { Lab, REPO_ROOT, defaultAgentCommand } from './lab.js';
export { withLab } from './with-lab.js';
export { defaultLabTopology, readTopologyFile, type DefaultTopologyOptions } from './default-topology.js';
export { listLabDirs, readLabRecord, labPaths, type LabPaths, type LabRecord, type StoredLab } from './lab-files.js';
export { listLabNetns, removeLabNetns } from './netns-cleanup.js';
export { CONTROLLER_PORT, controllerInfo, controllerPaths, defaultControllerCommand, type ControllerContext, type LabControllerInfo } from './lab-controller.js';
