/**
 * The status meshlet writes on a route: its own entries per Service parent replaced, other
 * controllers' kept, lastTransitionTime kept while a condition holds, no write when nothing
 * changed, and the Gateway API's cap on parents.
 */
import t from 'tap';
import { MESHLET_CONTROLLER_NAME, type RouteStatus } from '../../../../src/mesh/route-status.js';
import { MAX_STATUS_PARENTS, routeStatusBody } from '../../../../src/controller/registry/route-status-patch.js';

const SERVICE = { group: '', kind: 'Service', namespace: 'demo', name: 'web', port: 80 };
const GATEWAY = { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'demo', name: 'gw' };

function status(accepted: boolean): RouteStatus {
  return {
    kind: 'HTTPRoute',
    namespace: 'demo',
    name: 'r',
    generation: 3,
    parents: [
      { parentRef: SERVICE, managed: true, conditions: [
        { type: 'Accepted', status: accepted ? 'True' : 'False', reason: accepted ? 'Accepted' : 'NoMatchingParent', message: 'm' },
        { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'ok' },
      ] },
      { parentRef: GATEWAY, managed: false, conditions: [{ type: 'Accepted', status: 'False', reason: 'UnsupportedValue', message: 'x' }] },
    ],
  };
}

const otherController = { parentRef: GATEWAY, controllerName: 'example.com/gateway', conditions: [{ type: 'Accepted', status: 'True' }] };

t.test('meshlet writes its Service parents only, keeping other controllers\' entries', async (t) => {
  const body = routeStatusBody({ parents: [otherController] }, status(true), '2026-01-01T00:00:00Z');
  t.same(body, {
    parents: [
      otherController,
      {
        parentRef: SERVICE,
        controllerName: MESHLET_CONTROLLER_NAME,
        conditions: [
          { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'm', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 3 },
          { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 3 },
        ],
      },
    ],
  });
});

t.test('no write when nothing changed, whatever the key order the API server used', async (t) => {
  const first = routeStatusBody({}, status(true), '2026-01-01T00:00:00Z');
  // The API server's order: reordered keys, parentRef group written out.
  const reordered = JSON.parse(JSON.stringify(first), (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as object).reverse()) : v) as unknown;
  t.equal(routeStatusBody(reordered, status(true), '2026-02-02T00:00:00Z'), undefined);
});

t.test('lastTransitionTime moves only for the condition whose status changed', async (t) => {
  const first = routeStatusBody({}, status(true), '2026-01-01T00:00:00Z');
  const next = routeStatusBody(first, status(false), '2026-03-03T00:00:00Z');
  const conditions = (next?.parents[0] as { conditions: { type: string; lastTransitionTime: string }[] }).conditions;
  t.same(conditions.map((c) => [c.type, c.lastTransitionTime]), [['Accepted', '2026-03-03T00:00:00Z'], ['ResolvedRefs', '2026-01-01T00:00:00Z']]);
});

t.test('never more than the Gateway API\'s 32 parents', async (t) => {
  const others = Array.from({ length: MAX_STATUS_PARENTS }, (_, i) => ({ ...otherController, parentRef: { ...GATEWAY, name: `gw-${i}` } }));
  const body = routeStatusBody({ parents: others }, status(true), '2026-01-01T00:00:00Z');
  t.equal(body, undefined, 'no room: nothing of meshlet\'s to write, nothing changes');
  const room = routeStatusBody({ parents: others.slice(1) }, status(true), '2026-01-01T00:00:00Z');
  t.equal(room?.parents.length, MAX_STATUS_PARENTS);
});
