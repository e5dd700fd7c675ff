import t from 'tap';
import {
  DEFAULT_INBOUND_PORT,
  DEFAULT_OUTBOUND_PORT,
  DEFAULT_TUNNEL_PORT,
  checkCaptureSpec,
  resolveCaptureSpec,
} from '../../../src/iptables/capture-spec.js';
import { MeshletError, isMeshletError } from '../../../src/mesh/errors.js';

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

t.test('defaults are meshlet ports 15001, 15006, 15008', async (t) => {
  const spec = resolveCaptureSpec({ workloadIps: [] });
  t.equal(spec.outboundPort, DEFAULT_OUTBOUND_PORT);
  t.equal(spec.outboundPort, 15001);
  t.equal(spec.inboundPort, DEFAULT_INBOUND_PORT);
  t.equal(spec.inboundPort, 15006);
  t.equal(spec.tunnelPort, DEFAULT_TUNNEL_PORT);
  t.equal(spec.tunnelPort, 15008);
  t.same(spec.excludeInboundPorts, []);
  t.same(spec.addresses, { ipv4: [], ipv6: [] });
});

t.test('addresses split by family, canonical, sorted, deduplicated', async (t) => {
  const spec = resolveCaptureSpec({ workloadIps: ['198.18.1.10', 'FD00::2', '198.18.1.2', 'fd00:0::2', '198.18.1.10'] });
  t.same(spec.addresses.ipv4.map((a) => a.text), ['198.18.1.2', '198.18.1.10']);
  t.same(spec.addresses.ipv6.map((a) => a.text), ['fd00::2']);
});

t.test('excluded ports are sorted and deduplicated', async (t) => {
  const spec = resolveCaptureSpec({ workloadIps: [], excludeInboundPorts: [80, 22, 80], excludeOutboundPorts: [443] });
  t.same(spec.excludeInboundPorts, [22, 80]);
  t.same(spec.excludeOutboundPorts, [443]);
});

t.test('every problem is listed at once, with field and value', async (t) => {
  const spec = {
    workloadIps: ['198.18.1.2', 'nope', '198.18.1.300'],
    outboundPort: 0,
    inboundPort: 70000,
    tunnelPort: 1.5,
    excludeInboundPorts: [22, -1],
    excludeOutboundPorts: [Number.NaN],
  };
  const problems = checkCaptureSpec(spec);
  t.same(
    problems.map((p) => [p.field, p.value]),
    [
      ['workloadIps', 'nope'],
      ['workloadIps', '198.18.1.300'],
      ['outboundPort', '0'],
      ['inboundPort', '70000'],
      ['tunnelPort', '1.5'],
      ['excludeInboundPorts', '-1'],
      ['excludeOutboundPorts', 'NaN'],
    ],
  );
  const err = caught(() => resolveCaptureSpec(spec));
  t.ok(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'));
  t.equal((err as MeshletError).details.length, 7, 'one detail line per problem');
  t.match((err as MeshletError).message, '"198.18.1.300"');
  t.match((err as MeshletError).message, 'inboundPort: "70000"');
});

t.test('the agent ports must differ', async (t) => {
  t.same(
    checkCaptureSpec({ workloadIps: [], inboundPort: 15001 }).map((p) => p.field),
    ['inboundPort'],
  );
  t.same(
    checkCaptureSpec({ workloadIps: [], outboundPort: 7, inboundPort: 8, tunnelPort: 7 }).map((p) => `${p.field}: ${p.reason}`),
    ['tunnelPort: same port as outboundPort; the agent ports must differ'],
  );
  t.same(checkCaptureSpec({ workloadIps: [], outboundPort: 7, inboundPort: 8, tunnelPort: 9 }), []);
});

t.test('values from untyped input (unknown at the edge) are refused, not thrown on', async (t) => {
  const loose = JSON.parse('{"workloadIps": [42, "198.18.1.2"], "outboundPort": "15001"}') as never;
  const problems = checkCaptureSpec(loose);
  t.same(problems.map((p) => p.field), ['workloadIps', 'outboundPort']);
  const notList = JSON.parse('{"workloadIps": "198.18.1.2"}') as never;
  t.same(checkCaptureSpec(notList).map((p) => p.field), ['workloadIps']);
  const portsNotList = JSON.parse('{"workloadIps": [], "excludeInboundPorts": "22"}') as never;
  t.same(checkCaptureSpec(portsNotList).map((p) => p.field), ['excludeInboundPorts']);
});

t.test('the input spec is not modified', async (t) => {
  const spec = Object.freeze({ workloadIps: Object.freeze(['198.18.1.3', '198.18.1.2']), excludeInboundPorts: Object.freeze([9, 1]) });
  t.doesNotThrow(() => resolveCaptureSpec(spec));
  t.same(spec.workloadIps, ['198.18.1.3', '198.18.1.2']);
});
