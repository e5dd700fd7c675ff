/**
 * Authorization policy as plain data: the model's form of Istio's `AuthorizationPolicy`
 * (`meshlet.io/v1alpha1`, and `security.istio.io/v1` / `v1beta1` read as they are), and the
 * shapes of its evaluation. Parsing is `objects/authorization-policy.ts`; evaluation (pure, shared
 * by the agent's data path, the admin API and `meshlet policy explain`) is `authz/engine.ts`.
 *
 * Rule values are kept as the user wrote them (validated): the engine compiles them. Plain data
 * crosses every process boundary (controller -> agent -> worker) as JSON.
 */

/** Istio's actions meshlet enforces (CUSTOM needs an external authorizer: refused at parse). */
export type AuthzAction = 'ALLOW' | 'DENY' | 'AUDIT';

/** The API versions an AuthorizationPolicy is read from. */
export type AuthzApiVersion = 'meshlet.io/v1alpha1' | 'security.istio.io/v1' | 'security.istio.io/v1beta1';

/**
 * `from[].source`: every field set must match (AND); within a field any value (OR); a `not*`
 * field matches when no value does. Principals are written as Istio writes them, without the
 * `spiffe://` prefix (`cluster.local/ns/demo/sa/web`); `*`, `prefix*`, `*suffix` wildcards.
 * `ipBlocks` are addresses or CIDRs.
 */
export interface AuthzSource {
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  readonly ipBlocks?: readonly string[];
  readonly notIpBlocks?: readonly string[];
  readonly remoteIpBlocks?: readonly string[];
  readonly notRemoteIpBlocks?: readonly string[];
}

/**
 * `to[].operation`. `ports` are destination (workload) ports as decimal strings, as Istio
 * writes them. `methods`, `paths`, `hosts` (and their `not*`) are L7 fields: they need an HTTP
 * request (see {@link AuthzMode}). Paths take `*` wildcards and Istio's `{*}` / `{**}` templates.
 */
export interface AuthzOperation {
  readonly ports?: readonly string[];
  readonly notPorts?: readonly string[];
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
  readonly hosts?: readonly string[];
  readonly notHosts?: readonly string[];
}

/**
 * The `when` keys meshlet supports. `request.headers[<name>]` is stored with its name lowercased
 * as `request.headers[name]`. `request.*` keys are L7.
 */
export type AuthzConditionKey =
  | 'source.principal'
  | 'source.namespace'
  | 'source.ip'
  | 'remote.ip'
  | 'destination.ip'
  | 'destination.port'
  | 'connection.sni'
  | `request.headers[${string}]`;

/** One `when` entry: `values` (any matches) and/or `notValues` (none matches). */
export interface AuthzCondition {
  readonly key: AuthzConditionKey;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

/**
 * One rule: `from` (any entry), `to` (any entry) and `when` (every condition) must all match;
 * an absent or empty list matches anything. A rule `{}` matches every request.
 */
export interface AuthzRule {
  readonly from?: readonly { readonly source: AuthzSource }[];
  readonly to?: readonly { readonly operation: AuthzOperation }[];
  readonly when?: readonly AuthzCondition[];
}

/** A validated AuthorizationPolicy, as the cluster view and the snapshot carry it. */
export interface AuthorizationPolicyData {
  /** `namespace/name`. */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  /** The apiVersion it was read from (shown by `explain` and `proxy-config`). */
  readonly apiVersion: AuthzApiVersion;
  readonly action: AuthzAction;
  /**
   * `spec.selector.matchLabels`: the workloads of its namespace (of every namespace, in the root
   * namespace) whose labels include these. Absent (and no `targetServices`): every workload of
   * the namespace (of the mesh, in the root namespace).
   */
  readonly selector?: Readonly<Record<string, string>>;
  /**
   * `spec.targetRefs` (or `targetRef`) of kind Service, by name, in the policy's namespace: the
   * policy selects the workloads behind those Services, on the Services' target ports only.
   */
  readonly targetServices?: readonly string[];
  /** The rules; empty: the policy matches nothing (an empty ALLOW policy denies everything). */
  readonly rules: readonly AuthzRule[];
  /** `metadata.creationTimestamp` in ms (0 when absent): evaluation and listing order tie-break. */
  readonly creationTimestamp: number;
}

/**
 * How much of the traffic is known when evaluating:
 * - `request`: one HTTP request; every field is known.
 * - `connection-http`: a connection whose requests will each be evaluated in `request` mode
 *   (the destination sees them one by one). Only a decision that no request could change is
 *   taken: a DENY rule with L7 fields does not deny the connection (its requests are checked),
 *   and an ALLOW rule with L7 fields lets the connection in when its L4 part matches.
 * - `connection-opaque`: a connection whose bytes are never parsed (a port that is not HTTP, or
 *   a path with no per-request check). L7 fields fail closed (ztunnel's rule): an ALLOW rule
 *   with an L7 field never matches; a DENY (or AUDIT) rule is matched on its other fields only.
 */
export type AuthzMode = 'request' | 'connection-http' | 'connection-opaque';

/** Header values by lowercase name, as Node gives them. */
export type AuthzHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** The HTTP part of what is evaluated (mode `request` only). */
export interface AuthzRequestAttributes {
  readonly method: string;
  /** The request target as received (`/a/b?x=1`); the query is not part of the matched path. */
  readonly path: string;
  /** `:authority` or `Host`, as received (a port may follow). */
  readonly host: string;
  readonly headers: AuthzHeaders;
}

/** What a decision is made on. */
export interface AuthzAttributes {
  /** The source's SPIFFE ID (`spiffe://td/ns/x/sa/y`); absent for plaintext: no identity. */
  readonly sourcePrincipal?: string;
  /** The source address (the original client's); absent when unknown. */
  readonly sourceIp?: string;
  /** `remote.ip` / `remoteIpBlocks`: the original client's address; defaults to `sourceIp`. */
  readonly remoteIp?: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
  /** TLS server name the application's client sent, when the connection starts with TLS. */
  readonly sni?: string;
  /** Present in `request` mode. */
  readonly request?: AuthzRequestAttributes;
}

/** Where a policy's decision or log line points: `namespace/name` and the rule's index. */
export interface AuthzRuleRef {
  readonly policy: string;
  readonly rule: number;
}

/** The outcome of an evaluation. */
export interface AuthzVerdict {
  readonly allowed: boolean;
  /**
   * What decided: a DENY rule that matched (denied), an ALLOW rule that matched (allowed);
   * absent when no rule decided: allowed because no ALLOW policy selects the workload, or
   * denied because ALLOW policies select it and none matched.
   */
  readonly decidedBy?: AuthzRuleRef & { readonly action: 'ALLOW' | 'DENY' };
  /** One line for logs: why. */
  readonly reason: string;
  /** AUDIT rules that matched (logged, never blocking). */
  readonly audits: readonly AuthzRuleRef[];
  /**
   * `connection-http` only: true when per-request evaluation is still needed (an L7 rule could
   * decide); false when the connection's verdict is final for every request.
   */
  readonly deferred?: boolean;
}

/** One field of one rule, as `explain` reports it. */
export interface AuthzFieldTrace {
  /** Where in the policy: `rules[0].from[1].source.principals`, `rules[2].when[0]`. */
  readonly field: string;
  /** The values written in the policy. */
  readonly values: readonly string[];
  /** The value of the traffic it was compared with (absent: not known, e.g. no identity). */
  readonly actual?: string;
  /** `unknown`: an L7 field in a connection mode (see {@link AuthzMode}). */
  readonly matched: boolean | 'unknown';
  /** Why, when the comparison needs a word (no identity, fails closed on an opaque port). */
  readonly note?: string;
}

/** One rule of one policy, as `explain` reports it. */
export interface AuthzRuleTrace {
  readonly index: number;
  readonly matched: boolean;
  readonly fields: readonly AuthzFieldTrace[];
}

/** How a policy came to select the workload. */
export type AuthzSelectedBy = 'selector' | 'namespace' | 'mesh' | 'mesh-selector' | 'targetRef';

/** One policy that selected the workload, as `explain` reports it. */
export interface AuthzPolicyTrace {
  readonly policy: string;
  readonly apiVersion: AuthzApiVersion;
  readonly action: AuthzAction;
  readonly selectedBy: AuthzSelectedBy;
  readonly matched: boolean;
  /** The first matching rule's index, when matched. */
  readonly matchedRule?: number;
  readonly rules: readonly AuthzRuleTrace[];
  /** e.g. `no rules: matches nothing`, `targetRef: only ports 8080`. */
  readonly note?: string;
}

/** `explain`'s answer: the verdict, and every policy that selected the workload, in order. */
export interface AuthzExplanation {
  readonly verdict: AuthzVerdict;
  readonly mode: AuthzMode;
  /** DENY policies first, then ALLOW, then AUDIT; within an action by creation time, then key. */
  readonly policies: readonly AuthzPolicyTrace[];
}
