/**
 * One controller, both kinds of agent: the token's shape sends it to the Kubernetes
 * authenticator (a JWT) or the join tokens (anything else), and a method that is not
 * configured is refused saying so.
 */
import t from 'tap';
import { CombinedAuthenticator } from '../../../../src/controller/auth/agent-authenticator.js';
import { generateJoinToken } from '../../../../src/controller/auth/join-token-file.js';
import type { AgentAuthenticator, AgentPrincipal } from '../../../../src/controller/contracts.js';
import { fakeJwt } from './auth-fixtures.js';

function recorder(method: AgentPrincipal['method']): AgentAuthenticator & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    authenticate: async (c) => {
      seen.push(c.authorization ?? '');
      return { node: c.node ?? 'from-token', method };
    },
  };
}

const jwt = fakeJwt('agent', 2_000_000_000);
const join = generateJoinToken();

t.test('a JWT goes to Kubernetes, a join token to the join tokens', async (t) => {
  const joinTokens = recorder('join-token');
  const kubernetes = recorder('kubernetes-token');
  const auth = new CombinedAuthenticator({ joinTokens, kubernetes });
  t.same(await auth.authenticate({ authorization: `Bearer ${jwt}` }), { node: 'from-token', method: 'kubernetes-token' });
  t.same(await auth.authenticate({ authorization: `Bearer ${join}`, node: 'vm-1' }), { node: 'vm-1', method: 'join-token' });
  t.same(await auth.authenticate({ authorization: 'Bearer hand-made-secret', node: 'vm-2' }), { node: 'vm-2', method: 'join-token' }, 'a hand-made token is a join token');
  t.same([kubernetes.seen.length, joinTokens.seen.length], [1, 2]);
});

t.test('a method the controller does not run is refused, saying which it runs', async (t) => {
  const onlyJoin = new CombinedAuthenticator({ joinTokens: recorder('join-token') });
  await t.rejects(onlyJoin.authenticate({ authorization: `Bearer ${jwt}` }), { code: 'MESHLET_ERR_UNAUTHENTICATED', message: /accepts only join tokens/ });
  const onlyKube = new CombinedAuthenticator({ kubernetes: recorder('kubernetes-token') });
  await t.rejects(onlyKube.authenticate({ authorization: `Bearer ${join}`, node: 'vm-1' }), { code: 'MESHLET_ERR_UNAUTHENTICATED', message: /accepts only Kubernetes ServiceAccount tokens/ });
  await t.rejects(onlyKube.authenticate({}), { code: 'MESHLET_ERR_UNAUTHENTICATED', message: /no authorization metadata/ });
  t.throws(() => new CombinedAuthenticator({}), TypeError);
});
