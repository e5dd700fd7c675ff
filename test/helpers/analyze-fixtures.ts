/**
 * Mesh YAML with one instance of each problem `meshlet analyze` finds (PROBLEMS), on top of a
 * clean base (BASE): read as a directory (test/unit/cli/analyze.test.ts) and served by the fake
 * Kubernetes API (test/integration/cli/analyze-kubernetes.test.ts), which must agree.
 */
export const BASE = `apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 198.18.0.1}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {meshlet.io/mesh: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: demo, labels: {app: web}}
spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 198.18.1.10}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec: {clusterIP: 198.19.0.10, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
`;

export const PROBLEMS = `---
apiVersion: meshlet.io/v1alpha1
kind: MeshTLS
metadata: {name: db-strict, namespace: demo}
spec: {mode: STRICT, selector: {matchLabels: {app: db}}}
---
apiVersion: v1
kind: Pod
metadata: {name: db-1, namespace: demo, labels: {app: db}}
spec: {nodeName: node-a, serviceAccountName: db, containers: [{name: c}]}
status: {podIP: 198.18.1.20}
---
apiVersion: v1
kind: Pod
metadata: {name: batch, namespace: demo, labels: {app: batch, meshlet.io/mesh: disabled}}
spec: {nodeName: node-a, containers: [{name: c}]}
status: {podIP: 198.18.1.30}
---
apiVersion: v1
kind: Pod
metadata: {name: old-db, namespace: legacy, labels: {app: old-db}}
spec: {nodeName: node-a, containers: [{name: c}]}
status: {podIP: 198.18.1.40}
---
apiVersion: v1
kind: Service
metadata: {name: old-db, namespace: legacy}
spec: {clusterIP: 198.19.0.40, selector: {app: old-db}, ports: [{port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: ghost, namespace: demo}
spec: {clusterIP: 198.19.0.50, selector: {app: ghost}, ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: to-nowhere, namespace: demo}
spec:
  parentRefs: [{group: "", kind: Service, name: web}]
  rules: [{backendRefs: [{name: missing, port: 80}]}]
---
apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: for-nothing, namespace: demo}
spec:
  targetRefs: [{group: "", kind: Service, name: nothing}]
  retry: {numRetries: 1}
---
apiVersion: meshlet.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: selects-nobody, namespace: demo}
spec:
  selector: {matchLabels: {app: nobody}}
  action: ALLOW
  rules: [{}]
`;

