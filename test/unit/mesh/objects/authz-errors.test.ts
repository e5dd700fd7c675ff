/**
 * AuthorizationPolicy problems: every field meshlet does not enforce, every shape Istio itself
 * refuses and every malformed value is reported (never skipped), each line naming the file, the
 * line, the object and the field path.
 */
import t, { type Test } from 'tap';
import { isMeshletError } from '../../../../src/mesh/errors.js';
import { parseObjects } from '../../../../src/mesh/objects/parse.js';
import { thrown } from '../fixture.js';

const POLICY = (spec: string): string => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: p
  namespace: demo
spec:
${spec}`;

/** `rules: [<rule>]` with the rule as flow YAML. */
const RULE = (rule: string): string => POLICY(`  rules:\n  - ${rule}\n`);
const SOURCE = (source: string): string => RULE(`from: [{source: ${source}}]`);
const OPERATION = (operation: string): string => RULE(`to: [{operation: ${operation}}]`);
const WHEN = (condition: string): string => RULE(`when: [${condition}]`);

function problems(text: string): string[] {
  const err = thrown(() => parseObjects(text, 'authz.yaml'));
  if (!isMeshletError(err, 'MESHLET_ERR_OBJECT_INVALID')) throw new Error(`expected MESHLET_ERR_OBJECT_INVALID, got ${String(err)}`);
  return [...err.details];
}

/** Asserts each case: its problem lines name the file, line and object, and one matches. */
function check(t: Test, cases: readonly (readonly [string, string, RegExp])[]): void {
  for (const [name, text, want] of cases) {
    const lines = problems(text);
    t.ok(lines.length > 0, `${name}: a problem`);
    for (const line of lines) t.match(line, /^authz\.yaml:\d+ \(document 1\): AuthorizationPolicy demo\/p: /, `${name}: names file, line and object`);
    t.match(lines.join('\n'), new RegExp(want.source, 'm'), `${name}: ${lines.join(' | ')}`);
  }
}

t.test('unsupported Istio fields are errors with the reason', async (t) => {
  check(t, [
    ['CUSTOM', POLICY('  action: CUSTOM\n  provider: {name: ext}\n  rules: [{}]\n'), /: spec\.action: not supported: CUSTOM needs an external authorizer \(provider\)/],
    ['provider', POLICY('  action: CUSTOM\n  provider: {name: ext}\n  rules: [{}]\n'), /: spec\.provider: not supported: CUSTOM needs an external authorizer \(provider\)/],
    ['requestPrincipals', SOURCE('{requestPrincipals: ["example.com/sub"]}'), /spec\.rules\[0\]\.from\[0\]\.source\.requestPrincipals: not supported: needs RequestAuthentication \(JWT\), which meshlet does not have$/],
    ['notRequestPrincipals', SOURCE('{notRequestPrincipals: ["*"]}'), /source\.notRequestPrincipals: not supported: needs RequestAuthentication \(JWT\)/],
    ['serviceAccounts', SOURCE('{serviceAccounts: ["demo/web"]}'), /source\.serviceAccounts: not supported: write principals: \["\*\/ns\/<namespace>\/sa\/<service-account>"\]/],
    ['notServiceAccounts', SOURCE('{notServiceAccounts: ["web"]}'), /source\.notServiceAccounts: not supported: write notPrincipals/],
    ['trustDomains', SOURCE('{trustDomains: ["td"]}'), /source\.trustDomains: not supported/],
    ['JWT claim condition', WHEN('{key: "request.auth.claims[iss]", values: ["https://accounts.google.com"]}'), /spec\.rules\[0\]\.when\[0\]\.key: not supported: needs RequestAuthentication \(JWT\).*got "request\.auth\.claims\[iss\]"$/],
    ['JWT principal condition', WHEN('{key: request.auth.principal, values: ["a/b"]}'), /when\[0\]\.key: not supported: needs RequestAuthentication/],
    ['JWT audiences', WHEN('{key: request.auth.audiences, values: ["a"]}'), /when\[0\]\.key: not supported: needs RequestAuthentication/],
    ['JWT presenter', WHEN('{key: request.auth.presenter, values: ["a"]}'), /when\[0\]\.key: not supported: needs RequestAuthentication/],
    ['source.serviceAccount', WHEN('{key: source.serviceAccount, values: ["demo/web"]}'), /when\[0\]\.key: not supported: write key source\.principal/],
    ['Envoy filter metadata', WHEN('{key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]"]}'), /when\[0\]\.key: not supported: it reads Envoy filter metadata/],
    ['inline headers', WHEN('{key: "request.experimental.inline.headers[x]", values: ["a"]}'), /when\[0\]\.key: not supported \(an experimental Istio key\)/],
    ['destination.labels', WHEN('{key: "destination.labels[app]", values: ["a"]}'), /when\[0\]\.key: not supported: spec\.selector says it/],
    ['destination.namespace', WHEN('{key: destination.namespace, values: ["a"]}'), /when\[0\]\.key: not supported: the policy's metadata\.namespace says it/],
    ['destination.user', WHEN('{key: destination.user, values: ["a"]}'), /when\[0\]\.key: not supported: only Istio's old v1alpha1 RBAC/],
    ['Gateway target', POLICY('  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: waypoint}]\n'), /spec\.targetRefs\[0\]\.kind: not supported: .*meshlet has no gateways or waypoints/],
    ['GatewayClass target', POLICY('  targetRefs: [{group: gateway.networking.k8s.io, kind: GatewayClass, name: istio}]\n'), /spec\.targetRefs\[0\]\.kind: not supported: .*no gateways or waypoints/],
    ['ServiceEntry target', POLICY('  targetRef: {group: networking.istio.io, kind: ServiceEntry, name: ext}\n'), /spec\.targetRef\.kind: not supported: .*no waypoints/],
  ]);
});

t.test('what Istio itself refuses', async (t) => {
  check(t, [
    ['selector with targetRefs', POLICY('  selector: {matchLabels: {app: web}}\n  targetRefs: [{kind: Service, name: web}]\n'), /spec\.selector: set selector or targetRefs, not both/],
    ['empty selector with targetRef', POLICY('  selector: {}\n  targetRef: {kind: Service, name: web}\n'), /spec\.selector: set selector or targetRefs, not both/],
    ['targetRef and targetRefs', POLICY('  targetRef: {kind: Service, name: a}\n  targetRefs: [{kind: Service, name: b}]\n'), /spec\.targetRef: set targetRef or targetRefs, not both/],
    ['target in another namespace', POLICY('  targetRefs: [{kind: Service, name: web, namespace: other}]\n'), /spec\.targetRefs\[0\]\.namespace: must be the policy's namespace "demo"/],
    ['target of another kind', POLICY('  targetRefs: [{group: apps, kind: Deployment, name: web}]\n'), /spec\.targetRefs\[0\]\.kind: must be Service, got "Deployment"/],
    ['Service of another group', POLICY('  targetRefs: [{group: apps, kind: Service, name: web}]\n'), /spec\.targetRefs\[0\]\.group: must be ""/],
    ['target without name', POLICY('  targetRefs: [{kind: Service}]\n'), /spec\.targetRefs\[0\]\.name: required$/],
    ['target name not a Service name', POLICY('  targetRefs: [{kind: Service, name: 1web}]\n'), /spec\.targetRefs\[0\]\.name: must be a Service name/],
    ['DENY without rules', POLICY('  action: DENY\n'), /spec\.rules: required when action is DENY/],
    ['DENY with empty rules', POLICY('  action: DENY\n  rules: []\n'), /spec\.rules: required when action is DENY/],
    ['lowercase action', POLICY('  action: allow\n'), /spec\.action: must be one of ALLOW, DENY, AUDIT, got "allow" \(did you mean ALLOW\?\)$/],
    ['empty from', RULE('from: []'), /spec\.rules\[0\]\.from: must not be empty: omit from to match any source$/],
    ['empty to', RULE('to: []'), /spec\.rules\[0\]\.to: must not be empty/],
    ['empty when', RULE('when: []'), /spec\.rules\[0\]\.when: must not be empty/],
    ['from without source', RULE('from: [{}]'), /spec\.rules\[0\]\.from\[0\]\.source: required$/],
    ['to without operation', RULE('to: [{}]'), /spec\.rules\[0\]\.to\[0\]\.operation: required$/],
    ['empty source', SOURCE('{}'), /spec\.rules\[0\]\.from\[0\]\.source: must not be empty: set at least one of principals/],
    ['source of empty lists', SOURCE('{principals: []}'), /spec\.rules\[0\]\.from\[0\]\.source: must not be empty/],
    ['empty operation', OPERATION('{}'), /spec\.rules\[0\]\.to\[0\]\.operation: must not be empty: set at least one of hosts/],
    ['condition without key', WHEN('{values: ["a"]}'), /when\[0\]\.key: required$/],
    ['condition without values', WHEN('{key: source.ip}'), /when\[0\]: at least one of values or notValues must be set$/],
    ['condition with empty values', WHEN('{key: source.ip, values: [], notValues: []}'), /when\[0\]: at least one of values or notValues must be set$/],
    ['empty value', SOURCE('{principals: [""]}'), /source\.principals\[0\]: must not be empty, got ""$/],
    ['rule not a mapping', POLICY('  rules: [allow]\n'), /spec\.rules\[0\]: must be a mapping/],
    ['rules not a list', POLICY('  rules: {from: []}\n'), /spec\.rules: must be a list of rules, got a mapping$/],
    ['values not a list', SOURCE('{principals: "cluster.local/ns/a/sa/b"}'), /source\.principals: must be a list of strings, got "cluster\.local/],
    ['value not a string', SOURCE('{namespaces: [{a: b}]}'), /source\.namespaces\[0\]: must be a string, got a mapping$/],
  ]);
});

t.test('unknown fields anywhere, with did-you-mean', async (t) => {
  check(t, [
    ['spec', POLICY('  actions: DENY\n'), /spec\.actions: unknown field \(did you mean action\?\)$/],
    ['spec, no close name', POLICY('  frobnicate: 1\n'), /spec\.frobnicate: unknown field \(allowed: selector, targetRef, targetRefs, action, rules\)$/],
    ['selector', POLICY('  selector: {matchLabel: {app: a}}\n'), /spec\.selector\.matchLabel: unknown field \(did you mean matchLabels\?\)$/],
    ['targetRef', POLICY('  targetRefs: [{kind: Service, name: web, sectionName: http}]\n'), /spec\.targetRefs\[0\]\.sectionName: unknown field/],
    ['rule', RULE('{fromm: [{source: {namespaces: [a]}}]}'), /spec\.rules\[0\]\.fromm: unknown field \(did you mean from\?\)$/],
    ['from entry', RULE('from: [{sources: {namespaces: [a]}}]'), /spec\.rules\[0\]\.from\[0\]\.sources: unknown field \(did you mean source\?\)$/],
    ['source', SOURCE('{principal: ["cluster.local/ns/a/sa/b"]}'), /source\.principal: unknown field \(did you mean principals\?\)$/],
    ['source, IP', SOURCE('{ipBlock: ["10.0.0.0/8"]}'), /source\.ipBlock: unknown field \(did you mean ipBlocks\?\)$/],
    ['operation', OPERATION('{method: ["GET"]}'), /operation\.method: unknown field \(did you mean methods\?\)$/],
    ['condition', WHEN('{key: source.ip, value: ["10.0.0.1"]}'), /when\[0\]\.value: unknown field \(did you mean values\?\)$/],
    ['condition key', WHEN('{key: source.principals, values: ["*"]}'), /when\[0\]\.key: unknown condition key \(did you mean source\.principal\?\), got "source\.principals"$/],
    ['condition key, case', WHEN('{key: Source.IP, values: ["10.0.0.1"]}'), /when\[0\]\.key: unknown condition key \(did you mean source\.ip\?\)/],
    ['condition key, far', WHEN('{key: frobnicate, values: ["x"]}'), /when\[0\]\.key: unknown condition key; meshlet supports source\.principal, .*request\.headers\[<name>\]/],
    ['top level', `${POLICY('  {}\n')}specs: {}\n`, /: specs: unknown field \(did you mean spec\?\)$/],
  ]);
});

t.test('malformed values, each named by its index', async (t) => {
  check(t, [
    ['spiffe:// prefix', SOURCE('{principals: ["spiffe://cluster.local/ns/demo/sa/web"]}'), /source\.principals\[0\]: drop the "spiffe:\/\/" prefix: Istio writes a principal as <trust-domain>\/ns\/<namespace>\/sa\/<service-account>, got "spiffe:/],
    ['principal not of the form', SOURCE('{principals: ["cluster.local/sa/web"]}'), /source\.principals\[0\]: must be <trust-domain>\/ns\/<namespace>\/sa\/<service-account>/],
    ['principal, bad trust domain', SOURCE('{notPrincipals: ["Cluster.Local/ns/demo/sa/web"]}'), /source\.notPrincipals\[0\]: the trust domain "Cluster\.Local" must be lowercase/],
    ['principal, bad namespace', SOURCE('{principals: ["cluster.local/ns/Demo/sa/web"]}'), /principals\[0\]: the namespace "Demo" must be a DNS-1123 label/],
    ['principal, bad service account', SOURCE('{principals: ["cluster.local/ns/demo/sa/we_b"]}'), /principals\[0\]: the service account "we_b" must be a DNS-1123 subdomain/],
    ['principal, * in the middle', SOURCE('{principals: ["cluster.local/ns/*/sa/web"]}'), /principals\[0\]: a "\*" may be the whole value, or one "\*" at its start or end/],
    ['principal, two *', SOURCE('{principals: ["*demo*"]}'), /principals\[0\]: a "\*" may be the whole value/],
    ['principal wildcard that never matches', SOURCE('{principals: ["cluster local/*"]}'), /principals\[0\]: can never match/],
    ['namespace', SOURCE('{namespaces: ["Demo"]}'), /source\.namespaces\[0\]: must be a DNS-1123 label/],
    ['namespace wildcard', SOURCE('{notNamespaces: ["prod_*"]}'), /source\.notNamespaces\[0\]: can never match/],
    ['bad IP', SOURCE('{ipBlocks: ["10.0.0.300"]}'), /source\.ipBlocks\[0\]: must be an IPv4 or IPv6 address or CIDR/],
    ['bad CIDR length', SOURCE('{ipBlocks: ["10.0.0.0/33"]}'), /source\.ipBlocks\[0\]: the prefix length must be 0\.\.32, got "33"/],
    ['bad IPv6 CIDR length', SOURCE('{notIpBlocks: ["fd00::/129"]}'), /source\.notIpBlocks\[0\]: the prefix length must be 0\.\.128/],
    ['CIDR length with a sign', SOURCE('{remoteIpBlocks: ["10.0.0.0/+8"]}'), /source\.remoteIpBlocks\[0\]: the prefix length/],
    ['CIDR without length', SOURCE('{ipBlocks: ["10.0.0.0/"]}'), /source\.ipBlocks\[0\]: the prefix length/],
    ['zone id', SOURCE('{ipBlocks: ["fe80::1%eth0"]}'), /source\.ipBlocks\[0\]: a zone id/],
    ['IPv4-mapped', SOURCE('{notRemoteIpBlocks: ["::ffff:10.0.0.1"]}'), /source\.notRemoteIpBlocks\[0\]: is IPv4-mapped/],
    ['IP garbage', SOURCE('{ipBlocks: ["example.com"]}'), /source\.ipBlocks\[0\]: must be an IPv4 or IPv6 address/],
    ['port 0', OPERATION('{ports: ["0"]}'), /operation\.ports\[0\]: must be a port number 1\.\.65535/],
    ['port too large', OPERATION('{notPorts: [70000]}'), /operation\.notPorts\[0\]: must be a port number 1\.\.65535.*got "70000"$/],
    ['port name', OPERATION('{ports: ["http"]}'), /operation\.ports\[0\]: must be a port number/],
    ['port fraction', OPERATION('{ports: [80.5]}'), /operation\.ports\[0\]: must be a port number/],
    ['method with a space', OPERATION('{methods: ["GET POST"]}'), /operation\.methods\[0\]: must be an HTTP method/],
    ['method, * in the middle', OPERATION('{notMethods: ["G*T"]}'), /operation\.notMethods\[0\]: a "\*" may be/],
    ['path without /', OPERATION('{paths: ["api/v1"]}'), /operation\.paths\[0\]: must start with "\/"/],
    ['path prefix without /', OPERATION('{paths: ["api*"]}'), /operation\.paths\[0\]: must start with "\/"/],
    ['path, * in the middle', OPERATION('{paths: ["/api/*/users"]}'), /operation\.paths\[0\]: a "\*" may be .*\{\*\} matches one whole segment/],
    ['path with a query', OPERATION('{notPaths: ["/a?b=1"]}'), /operation\.notPaths\[0\]: the query/],
    ['path with a space', OPERATION('{paths: ["/a b"]}'), /operation\.paths\[0\]: a path holds no space/],
    ['template not whole segment', OPERATION('{paths: ["/foo/{*}.txt"]}'), /operation\.paths\[0\]: in a path template, \{\*\} and \{\*\*\} are each a whole segment/],
    ['template, ** not last', OPERATION('{paths: ["/{**}/foo/{*}"]}'), /operation\.paths\[0\]: in a path template, \{\*\*\} must be the last operator/],
    ['template, two **', OPERATION('{paths: ["/{**}/{**}"]}'), /operation\.paths\[0\]: in a path template, \{\*\*\} must be the last/],
    ['template with *', OPERATION('{paths: ["/*/baz/{*}"]}'), /operation\.paths\[0\]: in a path template, segment "\*" must be a literal/],
    ['template with **', OPERATION('{paths: ["/**/baz/{*}"]}'), /operation\.paths\[0\]: in a path template, segment "\*\*" must be a literal/],
    ['template, stray brace', OPERATION('{paths: ["/foo/{id}"]}'), /operation\.paths\[0\]: in a path template, \{\*\} and \{\*\*\}/],
    ['template without /', OPERATION('{paths: ["{*}/a"]}'), /operation\.paths\[0\]: a path template must start with "\/"/],
    ['template, empty segment', OPERATION('{paths: ["/a//{*}"]}'), /operation\.paths\[0\]: in a path template, segment "" must be a literal/],
    ['host, * in the middle', OPERATION('{hosts: ["a.*.com"]}'), /operation\.hosts\[0\]: a "\*" may be/],
    ['host with a slash', OPERATION('{notHosts: ["example.com/a"]}'), /operation\.notHosts\[0\]: must be a host name/],
    ['header name not a token', WHEN('{key: "request.headers[a b]", values: ["x"]}'), /when\[0\]\.key: the header name must be HTTP token characters/],
    ['pseudo-header', WHEN('{key: "request.headers[:method]", values: ["GET"]}'), /when\[0\]\.key: the header name must be HTTP token characters \(pseudo-headers/],
    ['empty header name', WHEN('{key: "request.headers[]", values: ["x"]}'), /when\[0\]\.key: the header name must be HTTP token characters/],
    ['header value, control character', WHEN('{key: "request.headers[x-a]", values: ["a\\u0001b"]}'), /when\[0\]\.values\[0\]: a header value holds no control character/],
    ['condition IP', WHEN('{key: source.ip, values: ["10.0.0.0/40"]}'), /when\[0\]\.values\[0\]: the prefix length must be 0\.\.32/],
    ['condition port', WHEN('{key: destination.port, notValues: ["http"]}'), /when\[0\]\.notValues\[0\]: must be a port number/],
    ['condition principal', WHEN('{key: source.principal, values: ["spiffe://td/ns/a/sa/b"]}'), /when\[0\]\.values\[0\]: drop the "spiffe:\/\/" prefix/],
    ['condition namespace', WHEN('{key: source.namespace, values: ["A"]}'), /when\[0\]\.values\[0\]: must be a DNS-1123 label/],
    ['condition SNI', WHEN('{key: connection.sni, values: ["a b"]}'), /when\[0\]\.values\[0\]: must be a host name/],
    ['bad label in selector', POLICY('  selector: {matchLabels: {app: "*"}}\n'), /spec\.selector\.matchLabels\.app: invalid label value "\*"/],
  ]);
});

t.test('every problem of a policy is listed at once', async (t) => {
  const lines = problems(POLICY(`  action: CUSTOM
  rules:
  - from: [{source: {principals: ["spiffe://a/ns/b/sa/c"], requestPrincipals: ["x"]}}]
    to: [{operation: {ports: ["0"], paths: ["x"]}}]
    when: [{key: "request.auth.claims[iss]", values: ["x"]}]
`));
  t.equal(lines.length, 6, lines.join('\n'));
});
