// Reads and sets a Deployment's replicas through its `scale` subresource (apps/v1
// deployments/scale), as the HPA does: the operator needs no write access to the Deployment itself,
// and a change of replicas never races an edit of the pod template.
import { AppsV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from "@kubernetes/client-node";

export interface DeploymentScale {
  /** spec.replicas: what the Deployment is asked to run (the count decisions start from). */
  replicas: number;
  /** status.replicas: pods the Deployment has now. */
  currentReplicas: number;
  /** status.selector: the pods' label selector as a query string. */
  selector: string;
}

export class DeploymentNotFoundError extends Error {
  constructor(namespace: string, name: string) {
    super(`Deployment ${namespace}/${name} does not exist`);
    this.name = "DeploymentNotFoundError";
  }
}

// client-node 1.4.0 sends a patch body as JSON-patch unless told otherwise (the first of the
// content types the generated client lists), and a merge-patch body sent as JSON-patch is refused.
const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export class DeploymentScaler {
  private readonly apps: AppsV1Api;

  constructor(kc: KubeConfig) {
    this.apps = kc.makeApiClient(AppsV1Api);
  }

  async read(namespace: string, name: string): Promise<DeploymentScale> {
    try {
      const scale = await this.apps.readNamespacedDeploymentScale({ namespace, name });
      return { replicas: scale.spec?.replicas ?? 0, currentReplicas: scale.status?.replicas ?? 0, selector: scale.status?.selector ?? "" };
    } catch (err) {
      if ((err as { code?: number }).code === 404) throw new DeploymentNotFoundError(namespace, name);
      throw err;
    }
  }

  async scale(namespace: string, name: string, replicas: number): Promise<void> {
    try {
      await this.apps.patchNamespacedDeploymentScale({ namespace, name, body: { spec: { replicas } } }, MERGE_PATCH);
    } catch (err) {
      if ((err as { code?: number }).code === 404) throw new DeploymentNotFoundError(namespace, name);
      throw err;
    }
  }
}
