/**
 * Allow-lists of Kubernetes API field names, for every level of an object meshlet walks.
 *
 * Real manifests and `kubectl get -o yaml` output carry many fields meshlet does not read
 * (image, resources, probes, status.conditions, ...). Those are accepted by name; anything else
 * is reported as an unknown field, so a typo such as `nodname` cannot silently drop a value.
 * The names follow the Kubernetes core/v1 API reference (up to v1.33); fields meshlet does not
 * walk into are accepted whole, whatever their content.
 */

/** Top level of every Kubernetes object. */
export const OBJECT_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'] as const;

/** Top level of meshlet's own kinds (no status). */
export const MESHLET_OBJECT_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec'] as const;

/** Top level of a `v1 List` (kubectl output). */
export const LIST_FIELDS = ['apiVersion', 'kind', 'metadata', 'items'] as const;

/** meta/v1 ObjectMeta. Also used for meshlet's kinds: they are stored as Kubernetes objects. */
export const OBJECT_META_FIELDS = [
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation',
  'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels',
  'annotations', 'ownerReferences', 'finalizers', 'managedFields',
] as const;

/** core/v1 PodSpec. */
export const POD_SPEC_FIELDS = [
  'volumes', 'initContainers', 'containers', 'ephemeralContainers', 'restartPolicy',
  'terminationGracePeriodSeconds', 'activeDeadlineSeconds', 'dnsPolicy', 'nodeSelector',
  'serviceAccountName', 'serviceAccount', 'automountServiceAccountToken', 'nodeName',
  'hostNetwork', 'hostPID', 'hostIPC', 'shareProcessNamespace', 'securityContext',
  'imagePullSecrets', 'hostname', 'subdomain', 'affinity', 'schedulerName', 'tolerations',
  'hostAliases', 'priorityClassName', 'priority', 'dnsConfig', 'readinessGates',
  'runtimeClassName', 'enableServiceLinks', 'preemptionPolicy', 'overhead',
  'topologySpreadConstraints', 'setHostnameAsFQDN', 'os', 'hostUsers', 'schedulingGates',
  'resourceClaims', 'resources',
] as const;

/** core/v1 Container. */
export const CONTAINER_FIELDS = [
  'name', 'image', 'command', 'args', 'workingDir', 'ports', 'envFrom', 'env', 'resources',
  'resizePolicy', 'restartPolicy', 'volumeMounts', 'volumeDevices', 'livenessProbe',
  'readinessProbe', 'startupProbe', 'lifecycle', 'terminationMessagePath',
  'terminationMessagePolicy', 'imagePullPolicy', 'securityContext', 'stdin', 'stdinOnce', 'tty',
] as const;

/** core/v1 ContainerPort. */
export const CONTAINER_PORT_FIELDS = ['name', 'hostPort', 'containerPort', 'protocol', 'hostIP'] as const;

/** core/v1 PodStatus. */
export const POD_STATUS_FIELDS = [
  'phase', 'conditions', 'message', 'reason', 'nominatedNodeName', 'hostIP', 'hostIPs', 'podIP',
  'podIPs', 'startTime', 'initContainerStatuses', 'containerStatuses', 'qosClass',
  'ephemeralContainerStatuses', 'resize', 'resourceClaimStatuses', 'observedGeneration',
] as const;

/** core/v1 PodIP. */
export const POD_IP_FIELDS = ['ip'] as const;

/** core/v1 ServiceSpec. */
export const SERVICE_SPEC_FIELDS = [
  'ports', 'selector', 'clusterIP', 'clusterIPs', 'type', 'externalIPs', 'sessionAffinity',
  'loadBalancerIP', 'loadBalancerSourceRanges', 'externalName', 'externalTrafficPolicy',
  'healthCheckNodePort', 'publishNotReadyAddresses', 'sessionAffinityConfig', 'ipFamilies',
  'ipFamilyPolicy', 'allocateLoadBalancerNodePorts', 'loadBalancerClass',
  'internalTrafficPolicy', 'trafficDistribution',
] as const;

/** core/v1 ServicePort. */
export const SERVICE_PORT_FIELDS = ['name', 'protocol', 'appProtocol', 'port', 'targetPort', 'nodePort'] as const;

/** core/v1 NodeStatus. */
export const NODE_STATUS_FIELDS = [
  'capacity', 'allocatable', 'phase', 'conditions', 'addresses', 'daemonEndpoints', 'nodeInfo',
  'images', 'volumesInUse', 'volumesAttached', 'config', 'runtimeHandlers', 'features',
] as const;

/** core/v1 NodeAddress. */
export const NODE_ADDRESS_FIELDS = ['type', 'address'] as const;

/** core/v1 NodeAddress `type` values. */
export const NODE_ADDRESS_TYPES = ['Hostname', 'InternalIP', 'ExternalIP', 'InternalDNS', 'ExternalDNS'] as const;

/** core/v1 PodPhase values. */
export const POD_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;

/** Protocols of container and Service ports. Only TCP is meshed; the others are skipped. */
export const PORT_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

/** meshlet.io/v1alpha1 Workload `spec`. */
export const WORKLOAD_SPEC_FIELDS = ['address', 'node', 'serviceAccount', 'ports'] as const;

/** meshlet.io/v1alpha1 Workload `spec.ports[]`. */
export const WORKLOAD_PORT_FIELDS = ['name', 'port'] as const;

/** meshlet.io/v1alpha1 MeshTLS `spec`. */
export const MESH_TLS_SPEC_FIELDS = ['mode', 'selector'] as const;

/** meshlet.io/v1alpha1 MeshTLS `spec.selector`. */
export const MESH_TLS_SELECTOR_FIELDS = ['matchLabels'] as const;
