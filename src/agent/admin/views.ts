/**
 * What the admin API shows: plain JSON-able objects built from the agent's state on request.
 * Certificates are shown by their public facts only; private keys and TLS contexts never.
 */
import type { Agent } from '../agent.js';
import { defaultMaxConnections, workloadCap } from '../policy/workload-limit.js';
import { openFilesLimit } from '../../ops/open-files-limit.js';

/** `/certs`: one row per local workload identity. */
export function certsView(agent: Agent, now = Date.now()): Array<Record<string, string | number>> {
  return agent.identities
    .list()
    .map((c) => ({
      identity: c.identity,
      serial: c.serial,
      notBefore: c.notBefore.toISOString(),
      notAfter: c.notAfter.toISOString(),
      secondsLeft: Math.floor((c.notAfter.getTime() - now) / 1000),
    }))
    .sort((a, b) => a.identity.localeCompare(b.identity));
}

/**
 * `/connections`: live connections, oldest first within each process; `worker` is the pid of
 * the process holding the connection (the agent's own without worker processes).
 */
export function connectionsView(agent: Agent): Promise<Array<Record<string, string | number>>> {
  return agent.connectionRows();
}

/**
 * `/endpoints`: every Service port's endpoints with the per-request balancer's state
 * (algorithm, outstanding requests, peak-EWMA latency, zone, weight, seconds left of an
 * ejection), by Service port then endpoint; `worker` is the pid of the process whose balancer
 * it is (each worker process balances its own requests).
 */
export async function endpointsView(agent: Agent): Promise<Array<Record<string, string | number>>> {
  const rows = await agent.endpointRows();
  return rows.sort((a, b) => String(a['servicePort']).localeCompare(String(b['servicePort'])) || String(a['endpoint']).localeCompare(String(b['endpoint'])) || Number(a['worker']) - Number(b['worker']));
}

/**
 * `/workloads`: every workload of the snapshot, local ones marked, each local one with its
 * connection cap on this agent (`maxConnections`) and where it comes from (`limit`: its
 * `meshlet.io/max-connections` annotation, or the default sized from the open-files limit,
 * which the workers inherit from this process), and its `meshlet.io/max-bandwidth` in bits per
 * second (`maxBandwidth`) and its `meshlet.io/max-agent-share` in percent (`maxAgentShare`) when
 * it sets them.
 */
export function workloadsView(agent: Agent, defaultCap = defaultMaxConnections(openFilesLimit())): Array<Record<string, string | boolean | number>> {
  const snapshot = agent.snapshot;
  const local = new Set(snapshot.localWorkloads.map((w) => w.uid));
  return snapshot.workloads.map((w) => {
    const row = { uid: w.uid, addresses: w.addresses.join(','), node: w.node, identity: w.identity, tlsMode: w.tlsMode, local: local.has(w.uid) };
    if (!row.local) return row;
    const capped = { ...row, maxConnections: workloadCap(w, defaultCap), limit: w.limits?.maxConnections === undefined ? 'default' : 'annotation' };
    // Bits per second, agent-wide (each data-path process holds its part); absent: not limited.
    const bandwidth = w.limits?.maxBandwidth === undefined ? capped : { ...capped, maxBandwidth: w.limits.maxBandwidth };
    // Percent of each data-path process, while a neighbour is active; absent: not limited.
    return w.limits?.maxAgentShare === undefined ? bandwidth : { ...bandwidth, maxAgentShare: w.limits.maxAgentShare };
  });
}

/** `/services`: the snapshot's services with their VIPs, ports and endpoint count. */
export function servicesView(agent: Agent): Array<Record<string, string | number>> {
  return agent.snapshot.services.map((s) => ({
    key: s.key,
    vips: s.vips.join(','),
    ports: s.ports.map((p) => `${p.port}->${p.targetPort}`).join(','),
    endpoints: s.endpoints.length,
  }));
}

/**
 * `/routes`: the HTTPRoutes and GRPCRoutes in force on this node (attached to a Service of the
 * snapshot: the controller only sends accepted ones), with the Gateway API conditions as this
 * agent sees them: `Accepted` True; `ResolvedRefs` True when every backend is a Service port of
 * the snapshot, else False with reason `BackendNotFound` (requests routed there get 500). A route
 * the agent does not apply (its regular expressions over the node's budget, or one that does not
 * compile) is `Accepted` False with reason `NotApplied` and why.
 */
export function routesView(agent: Agent): Array<Record<string, string | number>> {
  const snapshot = agent.snapshot;
  const refused = new Map(agent.refusedRoutes.map((r) => [r.route, r.reason]));
  const ports = new Set(snapshot.services.flatMap((s) => s.ports.map((p) => `${s.key}|${p.port}`)));
  const services = new Set(snapshot.services.map((s) => s.key));
  return (snapshot.routes ?? []).map((route) => {
    const missing: string[] = [];
    const backends: string[] = [];
    for (const rule of route.rules) {
      for (const b of rule.backendRefs) {
        const key = `${b.namespace}/${b.name}`;
        backends.push(`${key}${b.port === undefined ? '' : `:${b.port}`} w${b.weight}`);
        const resolves = b.invalid === undefined && services.has(key) && (b.port === undefined || ports.has(`${key}|${b.port}`));
        if (!resolves) missing.push(b.invalid ?? `${key}${b.port === undefined ? '' : `:${b.port}`}`);
      }
    }
    const notApplied = refused.get(`${route.kind} ${route.namespace}/${route.name}`);
    return {
      route: `${route.namespace}/${route.name}`,
      kind: route.kind,
      parents: route.parents.map((p) => `${p.namespace}/${p.name}${p.port === undefined ? '' : `:${p.port}`}`).join(','),
      rules: route.rules.length,
      backends: [...new Set(backends)].join(','),
      accepted: notApplied === undefined ? 'True' : 'False',
      resolvedRefs: missing.length === 0 ? 'True' : 'False',
      reason: notApplied !== undefined ? 'NotApplied' : missing.length === 0 ? 'ResolvedRefs' : 'BackendNotFound',
      message: notApplied ?? (missing.length === 0 ? '' : `backends not found: ${[...new Set(missing)].join(', ')}`),
    };
  });
}

/** How the agent gets its snapshots, for `/config_dump` (the CLI knows; the Agent does not). */
export interface SourceInfo {
  readonly agentVersion?: string;
  /** Controller mode: the connection's state now. Absent in static mode. */
  readonly controller?: () => { readonly address: string; readonly connected: boolean; readonly lastError?: string };
}

/** `/config_dump`: the snapshot in force, its version and age, the listeners, the certificates. */
export function configDumpView(agent: Agent, now = Date.now(), source: SourceInfo = {}): Record<string, unknown> {
  const at = agent.snapshotAppliedAt;
  return {
    agentVersion: source.agentVersion ?? null,
    mode: source.controller === undefined ? 'static' : 'controller',
    ...(source.controller === undefined ? {} : { controller: source.controller() }),
    version: agent.snapshot.version,
    appliedAt: at === undefined ? null : new Date(at).toISOString(),
    ageSeconds: at === undefined ? null : Math.round((now - at) / 1000),
    listeners: agent.listeners ?? null,
    // Every worker binds the same ports (SO_REUSEPORT): one list of listeners, and who serves them.
    workers: agent.workers(),
    certificates: certsView(agent, now),
    snapshot: agent.snapshot,
  };
}

/** `/iptables`: whether the agent manages rules, and the last (fresh) drift check. */
export async function iptablesView(agent: Agent): Promise<Record<string, unknown>> {
  const drift = await agent.checkCapture();
  if (drift === undefined) return { managed: false, inSync: null, detail: null };
  return { managed: true, inSync: drift.inSync, detail: drift.detail };
}
