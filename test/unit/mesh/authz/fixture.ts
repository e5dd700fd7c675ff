/** Builders for the authorization engine's tests: policies, attributes and a compiled workload. */
import { WorkloadAuthz } from '../../../../src/mesh/authz/engine.js';
import { selectPolicies } from '../../../../src/mesh/authz/select.js';
import type { AuthorizationPolicyData, AuthzAction, AuthzAttributes, AuthzRequestAttributes, AuthzRule } from '../../../../src/mesh/authz/types.js';
import type { ServiceInfo } from '../../../../src/mesh/types.js';

/** A policy in `demo` (or the namespace of `name` written `ns/name`). */
export function policy(name: string, action: AuthzAction, rules: readonly AuthzRule[], extra: Partial<AuthorizationPolicyData> = {}): AuthorizationPolicyData {
  const [namespace, short] = name.includes('/') ? (name.split('/') as [string, string]) : ['demo', name];
  return { key: `${namespace}/${short}`, namespace, name: short, apiVersion: 'security.istio.io/v1', action, rules, creationTimestamp: 0, ...extra };
}

export const WEB = 'spiffe://cluster.local/ns/demo/sa/web';
export const API_WORKLOAD = { uid: 'Pod/demo/api', namespace: 'demo', labels: { app: 'api' } };

/** Connection attributes from `web` to the api workload on port 8080, overridden by `over`. */
export function attrs(over: Partial<AuthzAttributes> = {}): AuthzAttributes {
  return { sourcePrincipal: WEB, sourceIp: '10.0.0.1', destinationIp: '10.0.0.2', destinationPort: 8080, ...over };
}

/** Request attributes (GET / on host api), overridden by `over`. */
export function request(over: Partial<AuthzRequestAttributes> = {}, conn: Partial<AuthzAttributes> = {}): AuthzAttributes {
  return attrs({ ...conn, request: { method: 'GET', path: '/', host: 'api', headers: {}, ...over } });
}

/** The api workload's compiled policies among `policies`. */
export function authz(policies: readonly AuthorizationPolicyData[], services: readonly ServiceInfo[] = []): WorkloadAuthz {
  return WorkloadAuthz.compile(selectPolicies(policies, API_WORKLOAD, services));
}

/** One ALLOW policy with one rule: the api workload's. */
export function allowOnly(rule: AuthzRule): WorkloadAuthz {
  return authz([policy('allow', 'ALLOW', [rule])]);
}

/** The default connection attributes without `key` (no identity, no address). */
export function without(key: 'sourcePrincipal' | 'sourceIp'): AuthzAttributes {
  const a: { -readonly [K in keyof AuthzAttributes]: AuthzAttributes[K] } = { ...attrs() };
  delete a[key];
  return a;
}
