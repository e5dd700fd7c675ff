/**
 * meshlet's iptables capture: the public surface for the agent and the CLI.
 * See docs/iptables.md for the rules and the semantics of apply, verify and clean.
 */
export {
  DEFAULT_INBOUND_PORT,
  DEFAULT_OUTBOUND_PORT,
  DEFAULT_TUNNEL_PORT,
  checkCaptureSpec,
  isPort,
  resolveCaptureSpec,
  type CaptureSpec,
  type CaptureSpecField,
  type CaptureSpecProblem,
  type ResolvedCaptureSpec,
} from './capture-spec.js';
export { parseWorkloadAddress, type IpFamily, type WorkloadAddress } from '../mesh/workload-address.js';
export {
  ENTRY_CHAIN,
  HOOK_CHAIN,
  INBOUND_CHAIN,
  JUMP_RULE,
  MESHLET_CHAINS,
  OUTBOUND_CHAIN,
  buildRuleSet,
  buildRules,
  renderRestore,
  type FamilyRuleSet,
  type RuleSet,
} from './rule-builder.js';
export { backendCommands, detectBackend, type BackendKind, type IptablesBackend } from './backend.js';
export { createCommandRunner, isValidNetnsName, type CommandResult, type CommandRunner, type CommandRunnerOptions } from './runner.js';
export { diffFamily, type FamilyDrift } from './drift.js';
export { normalizeSaveText, parseSave, type SavedRule, type SavedTable } from './save-parser.js';
export {
  ALL_FAMILIES,
  IptablesManager,
  type CreateManagerOptions,
  type IptablesManagerOptions,
  type VerifyReport,
} from './manager.js';
