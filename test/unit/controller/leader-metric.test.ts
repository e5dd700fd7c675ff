/**
 * `meshlet_controller_leader`: 1 on the replica that serves agents, 0 on a standby waiting for
 * the Lease, and back to 0 when the leader hands the Lease over; read at scrape time from the
 * elector, so it cannot lag a change of leader.
 */
import t from 'tap';
import { pino } from 'pino';
import { ControllerMetrics, type ControllerMetricsSource } from '../../../src/controller/metrics.js';
import { LeaderElector, type LeaseApi, type LeaseRecord } from '../../../src/controller/leader-election.js';

const logger = pino({ level: 'silent' });

/** One Lease with the API server's optimistic concurrency (a stale resourceVersion conflicts). */
function leaseStore(): LeaseApi {
  let lease: LeaseRecord | undefined;
  let rv = 0;
  const conflict = (): Error => Object.assign(new Error('conflict'), { conflict: true });
  return {
    read: async () => lease,
    create: async (holder, durationSeconds) => {
      if (lease !== undefined) throw conflict();
      lease = { holder, durationSeconds, transitions: 0, resourceVersion: String(++rv) };
      return lease;
    },
    update: async (next) => {
      if (lease?.resourceVersion !== next.resourceVersion) throw conflict();
      lease = { ...next, resourceVersion: String(++rv) };
      return lease;
    },
  };
}

function source(leader?: () => boolean): ControllerMetricsSource {
  return {
    agentsConnected: () => 0,
    published: () => undefined,
    snapshotBytes: () => undefined,
    certificates: () => undefined,
    state: () => ({ versionsPublished: 0, rejections: 0 }),
    ...(leader === undefined ? {} : { leader }),
  };
}

/** The gauge's value in one scrape, or undefined when the line is missing. */
async function leaderValue(metrics: ControllerMetrics): Promise<number | undefined> {
  const line = (await metrics.text()).split('\n').find((l) => l.startsWith('meshlet_controller_leader '));
  return line === undefined ? undefined : Number(line.slice('meshlet_controller_leader '.length));
}

async function until(pred: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end && !pred()) await new Promise((r) => setTimeout(r, 20));
  return pred();
}

t.test('0 before the controller wires a source, and when the source says nothing', async (t) => {
  const metrics = new ControllerMetrics();
  t.equal(await leaderValue(metrics), 0, 'no source yet');
  metrics.watch(source());
  t.equal(await leaderValue(metrics), 0, 'a source without leader()');
  metrics.watch(source(() => true));
  t.equal(await leaderValue(metrics), 1, 'a source that leads');
});

t.test('follows the elector: leader 1, standby 0, then the standby takes over a released Lease', async (t) => {
  const api = leaseStore();
  const opts = { api, logger, leaseDurationMs: 15_000, renewIntervalMs: 20, retryIntervalMs: 20 };
  const a = new LeaderElector({ ...opts, identity: 'pod-a' });
  const b = new LeaderElector({ ...opts, identity: 'pod-b' });
  t.teardown(async () => {
    await a.release();
    await b.release();
  });
  const metricsA = new ControllerMetrics();
  const metricsB = new ControllerMetrics();
  metricsA.watch(source(() => a.isLeader));
  metricsB.watch(source(() => b.isLeader));
  t.equal(await leaderValue(metricsA), 0, 'a before the election');

  await a.acquire(() => undefined);
  t.equal(await leaderValue(metricsA), 1, 'a holds the Lease');
  let bLeads = false;
  void b.acquire(() => undefined).then(() => (bLeads = true));
  t.equal(await b.tryAcquireOrRenew(), false, 'b sees a live holder');
  t.equal(await leaderValue(metricsB), 0, 'b waits as a standby');

  await a.release();
  t.equal(await leaderValue(metricsA), 0, 'a handed the Lease over');
  t.equal(await until(() => bLeads), true, 'b took the released Lease');
  t.equal(await leaderValue(metricsB), 1, 'b now says 1');
});
