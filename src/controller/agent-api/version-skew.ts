/**
 * The version-skew policy between the controller and its agents (docs/agent-api.md, "Version
 * skew"): an agent may be the controller's minor release or up to two minors older, never
 * newer, within the same major. Upgrades therefore go controller first, then agents (a
 * DaemonSet rolls them node by node); an agent more than two minors behind, or ahead of its
 * controller, is refused at its Hello with FAILED_PRECONDITION and a message saying which side
 * to upgrade, and keeps serving with the snapshot it holds. Pure: the versions in, a reason out.
 */

/** Minor releases an agent may lag its controller. */
export const MAX_MINORS_BEHIND = 2;

interface Semver {
  readonly major: number;
  readonly minor: number;
}

function parse(version: string): Semver | undefined {
  const m = /^(\d{1,6})\.(\d{1,6})\.(\d{1,6})(?:[-+][0-9A-Za-z.+-]{1,64})?$/.exec(version);
  return m === null ? undefined : { major: Number(m[1]), minor: Number(m[2]) };
}

/**
 * Why the controller (at `controller`) refuses an agent that says it runs `agent`, or undefined
 * when it serves it.
 */
export function agentVersionRefusal(agent: string, controller: string): string | undefined {
  const c = parse(controller);
  if (c === undefined) return undefined; // a development build without a release version: no policy to apply
  const supported = `${c.major}.${Math.max(0, c.minor - MAX_MINORS_BEHIND)} to ${c.major}.${c.minor}`;
  const a = parse(agent);
  if (a === undefined) {
    return `the agent's version ${JSON.stringify(agent.slice(0, 40))} is not a release version (MAJOR.MINOR.PATCH); this controller (${controller}) serves agents ${supported}`;
  }
  if (a.major !== c.major || a.minor > c.minor) {
    const newer = a.major > c.major || (a.major === c.major && a.minor > c.minor);
    return newer
      ? `agent ${agent} is newer than this controller (${controller}): upgrade the controller first; it serves agents ${supported}`
      : `agent ${agent} is too old for this controller (${controller}): upgrade the agent; this controller serves agents ${supported}`;
  }
  if (c.minor - a.minor > MAX_MINORS_BEHIND) {
    return `agent ${agent} is more than ${MAX_MINORS_BEHIND} minor releases behind this controller (${controller}): upgrade the agent; this controller serves agents ${supported}`;
  }
  return undefined;
}
