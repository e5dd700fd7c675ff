/**
 * The `ip` invocations that build a lab's kernel objects, as data. Pure, so the exact command
 * list is unit-tested; `lab-builder.ts` runs it. Every command names a namespace the lab
 * creates (`ip -n NS ...`, `ip netns exec NS sysctl ...`): nothing touches the host's netns.
 *
 * @module
 */

import type { LabPlan, NodePlan, PodPlan } from './addressing.js';
import { CONTROLLER_ADDRESS, POD_GATEWAY } from './addressing.js';

/** Arguments of one `ip` command (without the leading `ip`). */
export type IpArgs = readonly string[];

/** Bridge joining the nodes' fabric veths in the fabric namespace. */
export const FABRIC_BRIDGE = 'br0';

function fabricCommands(plan: LabPlan): IpArgs[] {
  const f = plan.fabricNetns;
  return [
    ['-n', f, 'link', 'set', 'lo', 'up'],
    ['-n', f, 'link', 'add', FABRIC_BRIDGE, 'type', 'bridge'],
    ['-n', f, 'link', 'set', FABRIC_BRIDGE, 'up'],
    // Where a lab controller listens (the fabric namespace hosts it).
    ['-n', f, 'addr', 'add', `${CONTROLLER_ADDRESS}/24`, 'dev', FABRIC_BRIDGE],
  ];
}

function nodeCommands(plan: LabPlan, node: NodePlan): IpArgs[] {
  const f = plan.fabricNetns;
  const n = node.netns;
  return [
    ['-n', n, 'link', 'set', 'lo', 'up'],
    // Before any interface exists, so new interfaces inherit `default`: pod traffic arrives on
    // veths whose source addresses are only reachable through other interfaces' routes.
    [
      'netns', 'exec', n, 'sysctl', '-q', '-w',
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.all.rp_filter=0',
      'net.ipv4.conf.default.rp_filter=0',
    ],
    ['-n', f, 'link', 'add', node.fabricIface, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n],
    ['-n', f, 'link', 'set', node.fabricIface, 'master', FABRIC_BRIDGE],
    ['-n', f, 'link', 'set', node.fabricIface, 'up'],
    ['-n', n, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0'],
    ['-n', n, 'link', 'set', 'eth0', 'up'],
  ];
}

function podCommands(node: NodePlan, pod: PodPlan): IpArgs[] {
  const n = node.netns;
  const p = pod.netns;
  return [
    ['-n', n, 'link', 'add', pod.hostIface, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p],
    ['-n', n, 'addr', 'add', `${POD_GATEWAY}/32`, 'dev', pod.hostIface, 'scope', 'link'],
    ['-n', n, 'link', 'set', pod.hostIface, 'up'],
    ['-n', p, 'link', 'set', 'lo', 'up'],
    ['-n', p, 'addr', 'add', `${pod.address}/32`, 'dev', 'eth0'],
    ['-n', p, 'link', 'set', 'eth0', 'up'],
    ['-n', p, 'route', 'add', 'default', 'via', POD_GATEWAY, 'dev', 'eth0', 'onlink'],
    // `src`: connections the node (its agent) opens to a pod come from the node's real address,
    // not from the link-local gateway.
    ['-n', n, 'route', 'add', `${pod.address}/32`, 'dev', pod.hostIface, 'src', node.address],
  ];
}

function crossNodeRoutes(plan: LabPlan, node: NodePlan): IpArgs[] {
  return plan.nodes
    .filter((other) => other.name !== node.name)
    .map((other) => ['-n', node.netns, 'route', 'add', other.podCidr, 'via', other.address, 'dev', 'eth0']);
}

/** Every namespace the plan needs, fabric first. */
export function labNetnsNames(plan: LabPlan): string[] {
  return [plan.fabricNetns, ...plan.nodes.map((n) => n.netns), ...plan.pods.map((p) => p.netns)];
}

/**
 * The ordered `ip` commands that build the plan's namespaces, bridge, veths, addresses, routes
 * and sysctls. No default route anywhere but in pods (towards their node), so nothing can leave
 * the host.
 */
export function buildNetnsCommands(plan: LabPlan): IpArgs[] {
  const out: IpArgs[] = labNetnsNames(plan).map((ns) => ['netns', 'add', ns]);
  out.push(...fabricCommands(plan));
  const nodes = new Map(plan.nodes.map((n) => [n.name, n]));
  for (const node of plan.nodes) out.push(...nodeCommands(plan, node));
  for (const pod of plan.pods) {
    const node = nodes.get(pod.node);
    if (node !== undefined) out.push(...podCommands(node, pod));
  }
  for (const node of plan.nodes) out.push(...crossNodeRoutes(plan, node));
  return out;
}
