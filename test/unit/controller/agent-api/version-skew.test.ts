/**
 * The version-skew policy (src/controller/agent-api/version-skew.ts): agents of the controller's
 * minor or up to two minors older, same major, are served; newer, much older, another major or
 * no release version are refused with a message saying which side to upgrade.
 */
import t from 'tap';
import { status } from '@grpc/grpc-js';
import { agentVersionRefusal } from '../../../../src/controller/agent-api/version-skew.js';
import { FakeFeed, makePki, RawAgent, rawClient, startServer, waitFor } from './harness.js';
import { buildClusterState } from '../../../../src/mesh/snapshot.js';
import { twoNodeObjects } from '../../mesh/fixture.js';

t.test('served: the same minor, one or two minors older, any patch or pre-release', async (t) => {
  for (const agent of ['1.4.0', '1.4.9', '1.3.2', '1.2.0', '1.4.1-rc.1', '1.2.7+build.5']) t.equal(agentVersionRefusal(agent, '1.4.2'), undefined, agent);
  t.equal(agentVersionRefusal('0.0.3', '0.1.0'), undefined, '0.x: the minor before');
  t.equal(agentVersionRefusal('whatever', 'dev'), undefined, 'a controller without a release version applies no policy');
});

t.test('refused, saying which side to upgrade', async (t) => {
  t.match(agentVersionRefusal('1.5.0', '1.4.2'), /agent 1\.5\.0 is newer than this controller \(1\.4\.2\): upgrade the controller first; it serves agents 1\.2 to 1\.4/);
  t.match(agentVersionRefusal('2.0.0', '1.4.2'), /newer than this controller .*upgrade the controller first/);
  t.match(agentVersionRefusal('1.1.9', '1.4.2'), /agent 1\.1\.9 is more than 2 minor releases behind this controller \(1\.4\.2\): upgrade the agent/);
  t.match(agentVersionRefusal('0.9.0', '1.0.0'), /agent 0\.9\.0 is too old for this controller \(1\.0\.0\): upgrade the agent; this controller serves agents 1\.0 to 1\.0/);
  t.match(agentVersionRefusal('', '1.4.2'), /the agent's version "" is not a release version/);
  t.match(agentVersionRefusal('1.4', '1.4.2'), /not a release version/);
  t.match(agentVersionRefusal(`1.4.0-${'x'.repeat(100)}`, '1.4.2'), /not a release version/, 'an overlong pre-release is not one');
});

t.test('an agent outside the policy is refused at its Hello with FAILED_PRECONDITION and the reason', async (t) => {
  const pki = await makePki(t);
  const feed = new FakeFeed();
  feed.publish(buildClusterState(twoNodeObjects()), 'v1');
  const { server, address } = await startServer(t, pki, feed, { controllerVersion: '1.4.2' });
  const newer = new RawAgent(t, rawClient(t, pki, address), 'token-a');
  newer.hello('node-a', '', '1.5.0');
  t.match(await newer.status, { code: status.FAILED_PRECONDITION, details: /newer than this controller \(1\.4\.2\): upgrade the controller first/ });
  t.equal(newer.snapshots.length, 0, 'no snapshot for a refused agent');
  t.equal(server.nodeStats('node-a')?.agentVersion, '1.5.0', 'the refused version is on record (proxy-status shows it)');
  const served = new RawAgent(t, rawClient(t, pki, address), 'token-a');
  served.hello('node-a', '', '1.3.0');
  await waitFor(() => served.snapshots.length === 1, 'the first snapshot');
  t.equal(server.nodeStats('node-a')?.connected, true, 'an agent one minor behind is served');
});
