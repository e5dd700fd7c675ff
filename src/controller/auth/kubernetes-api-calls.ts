/**
 * Every Kubernetes API call the controller's authentication and CA make. The RBAC manifests
 * are derived from this list; a call added in the code without its entry here is a bug.
 */
import { CA_SECRET_API_CALLS } from '../../ca/kubernetes-secret-ca-store.js';
import type { KubernetesApiCall } from '../../ca/kubernetes-api.js';
import { TOKEN_REVIEW_API_CALLS } from './token-reviewer.js';

export type { KubernetesApiCall } from '../../ca/kubernetes-api.js';

/** TokenReview create (cluster) and the CA Secret get/create (controller namespace). */
export const AUTH_KUBERNETES_API_CALLS: readonly KubernetesApiCall[] = Object.freeze([...TOKEN_REVIEW_API_CALLS, ...CA_SECRET_API_CALLS]);
