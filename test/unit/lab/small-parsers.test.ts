import t from 'tap';
import { isAgentReadyLine } from '../../../src/lab/index.js';
import { parseNetnsList, parsePids } from '../../../src/lab/netns-cleanup.js';
import { describeLab, isPodMeshed } from '../../../src/lab/lab-admin.js';
import { defaultLabTopology, planLab } from '../../../src/lab/index.js';

t.test('isAgentReadyLine wants the JSON msg, not the words', async (t) => {
  t.ok(isAgentReadyLine('{"level":"info","msg":"agent ready","node":"n1"}'));
  t.notOk(isAgentReadyLine('{"level":"info","msg":"agent ready soon"}'));
  t.notOk(isAgentReadyLine('agent ready'), 'plain text is not a pino line');
  t.notOk(isAgentReadyLine('{"msg":"starting","note":"agent ready"}'));
  t.notOk(isAgentReadyLine('{"msg":"agent ready"'), 'a cut line');
});

t.test('ip netns list and pids output', async (t) => {
  t.same(parseNetnsList('ml-a-n1 (id: 3)\nml-a-fabric (id: 1)\nother\n\n'), ['ml-a-n1', 'ml-a-fabric', 'other']);
  t.same(parseNetnsList(''), []);
  t.same(parsePids(`12\n345\n${process.pid}\n1\nx\n`), [12, 345], 'never this process, never init');
});

t.test('the default topology', async (t) => {
  const two = defaultLabTopology();
  t.equal(two.name, 'demo');
  t.same(two.nodes.map((n) => n.name), ['node1', 'node2']);
  t.same(two.pods.map((p) => [p.name, p.node]), [['client', 'node1'], ['server', 'node2'], ['legacy', 'node2']]);
  t.same(two.services[0]?.ports, [{ name: 'tcp', port: 80, targetPort: 8080 }]);
  const one = defaultLabTopology({ name: 'x', nodes: 1 });
  t.same(one.pods.map((p) => p.node), ['node1', 'node1', 'node1']);
  t.throws(() => defaultLabTopology({ nodes: 0 }), /positive integer/);
  t.throws(() => defaultLabTopology({ nodes: Number.NaN }), /positive integer/);
  const plan = planLab(two);
  t.same(plan.pods.map((p) => isPodMeshed(plan, p)), [true, true, false], 'demo is meshed, legacy is not');
});

t.test('describeLab lists every address', async (t) => {
  const plan = planLab(defaultLabTopology());
  const text = describeLab(plan, '/run/meshlet/lab/demo', { node1: 42, node2: null }).join('\n');
  t.match(text, /lab demo: 2 nodes, 3 pods, 1 services/);
  t.match(text, /node node1 +198\.18\.0\.10 +pods 198\.18\.1\.0\/24 +netns ml-demo-node1 +agent pid 42/);
  t.notMatch(text, /node node2 .*agent pid/);
  t.match(text, /pod  legacy +198\.18\.2\.11 +legacy\/legacy +on node2, sa default, not meshed/);
  t.match(text, /svc  demo\/server +198\.19\.0\.10 +80->8080/);
});
