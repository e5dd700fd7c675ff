/**
 * A small mesh with L7 objects: two nodes in two zones, Services web, web-v2 and db (an opaque
 * port), an HTTPRoute with a regular expression and a canary split, a GRPCRoute, and two
 * TrafficPolicies on web (the older one wins).
 */
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import type { MeshObject } from '../../../src/mesh/types.js';

export const L7_YAML = `apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {meshlet.io/mesh: enabled}}
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {topology.kubernetes.io/zone: zone-a}}
status: {addresses: [{type: InternalIP, address: 198.18.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b, labels: {topology.kubernetes.io/zone: zone-b}}
status: {addresses: [{type: InternalIP, address: 198.18.0.2}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: demo, labels: {app: web}}
spec: {nodeName: node-a}
status: {podIP: 198.18.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: demo, labels: {app: web-v2}}
spec: {nodeName: node-b}
status: {podIP: 198.18.2.10}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec: {clusterIP: 198.19.0.10, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-v2, namespace: demo}
spec: {clusterIP: 198.19.0.11, selector: {app: web-v2}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: demo
  annotations: {meshlet.io/opaque-ports: "5432, 9187"}
spec: {clusterIP: 198.19.0.12, selector: {app: web}, ports: [{name: pg, port: 5432}, {name: metrics, port: 9187}, {name: admin, port: 8000}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: demo, creationTimestamp: "2025-01-01T00:00:00Z"}
spec:
  parentRefs:
    - {group: "", kind: Service, name: web, port: 80}
    - {name: public-gateway}
  rules:
    - matches: [{path: {type: RegularExpression, value: "/api/v[0-9]+/.*"}, headers: [{type: RegularExpression, name: x-user, value: "bob|alice"}]}]
      backendRefs: [{name: web-v2, port: 80}]
      timeouts: {request: 10s}
    - matches: [{path: {type: PathPrefix, value: /shop}}]
      backendRefs: [{name: web, port: 80, weight: 90}, {name: web-v2, port: 80, weight: 10}, {name: missing, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: greeter, namespace: demo}
spec:
  parentRefs: [{group: "", kind: Service, name: web}]
  rules:
    - matches: [{method: {type: RegularExpression, service: "helloworld\\\\..*"}}]
      backendRefs: [{name: web-v2, port: 80}]
---
apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: sticky, namespace: demo, creationTimestamp: "2025-01-01T00:00:00Z"}
spec:
  targetRefs: [{group: "", kind: Service, name: web}]
  loadBalancer:
    type: ConsistentHash
    consistentHash: {type: Header, header: {name: X-User}}
    zoneAware: {preferLocal: true}
---
apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: newer, namespace: demo, creationTimestamp: "2025-02-01T00:00:00Z"}
spec:
  targetRefs: [{group: "", kind: Service, name: web}, {group: "", kind: Service, name: web-v2}]
  loadBalancer: {type: PeakEWMA, peakEWMA: {defaultRTT: 20ms, decay: 5s}}
`;

/** The objects of {@link L7_YAML}. */
export function l7Objects(): MeshObject[] {
  return parseObjects(L7_YAML, 'l7.yaml');
}
