/**
 * The controller's limit metrics (issue 9, finding 4): agent API connections and their
 * refusals, TokenReviews and token refusals, read at scrape time; a replaced agent API server
 * (counts back at zero) does not make a counter go down or skip.
 */
import t from 'tap';
import { ControllerMetrics, type AgentApiConnectionFigures } from '../../../src/controller/metrics.js';
import type { KubernetesAuthCounters } from '../../../src/controller/auth/kubernetes-token-authenticator.js';

const refusals = (n: number): KubernetesAuthCounters['refused'] => ({ malformed: n, invalid: 0, cached_invalid: 0, rate_limited: 2 * n, busy: 0, review_failed: 0, node_mismatch: 0 });

t.test('limit metrics follow their sources', async (t) => {
  const metrics = new ControllerMetrics();
  let api: AgentApiConnectionFigures = { connections: 3, unauthenticated: 1, refused: { max_connections: 0, max_per_address: 0, max_unauthenticated: 4, authentication_timeout: 7 } };
  let auth: KubernetesAuthCounters = { reviews: 5, refused: refusals(10) };
  metrics.watch({
    agentsConnected: () => 0,
    published: () => undefined,
    snapshotBytes: () => undefined,
    certificates: () => undefined,
    state: () => ({ versionsPublished: 0, rejections: 0 }),
    agentApi: () => api,
    tokenAuth: () => auth,
  });
  const line = (text: string, name: string): string | undefined => text.split('\n').find((l) => l.startsWith(name));
  let text = await metrics.text();
  t.equal(line(text, 'meshlet_controller_agent_api_connections{state="all"}'), 'meshlet_controller_agent_api_connections{state="all"} 3');
  t.equal(line(text, 'meshlet_controller_agent_api_connections{state="unauthenticated"}'), 'meshlet_controller_agent_api_connections{state="unauthenticated"} 1');
  t.equal(line(text, 'meshlet_controller_agent_api_connections_refused_total{reason="authentication_timeout"}'), 'meshlet_controller_agent_api_connections_refused_total{reason="authentication_timeout"} 7');
  t.equal(line(text, 'meshlet_controller_token_reviews_total'), 'meshlet_controller_token_reviews_total 5');
  t.equal(line(text, 'meshlet_controller_token_refusals_total{reason="rate_limited"}'), 'meshlet_controller_token_refusals_total{reason="rate_limited"} 20');

  // The server is replaced (its counts restart) and refuses two more.
  api = { connections: 0, unauthenticated: 0, refused: { max_connections: 0, max_per_address: 0, max_unauthenticated: 0, authentication_timeout: 2 } };
  auth = { reviews: 6, refused: refusals(11) };
  text = await metrics.text();
  t.equal(line(text, 'meshlet_controller_agent_api_connections_refused_total{reason="authentication_timeout"}'), 'meshlet_controller_agent_api_connections_refused_total{reason="authentication_timeout"} 9');
  t.equal(line(text, 'meshlet_controller_token_reviews_total'), 'meshlet_controller_token_reviews_total 6');
  t.equal(line(text, 'meshlet_controller_token_refusals_total{reason="malformed"}'), 'meshlet_controller_token_refusals_total{reason="malformed"} 11');
});
