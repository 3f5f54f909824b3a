// Which jetq tenant a ProcessingTask's task belongs to (issue #11): decided by the namespace the
// resource lives in, so that a team's namespace is its tenant and its keys see its tasks.
import { DEFAULT_TENANT } from "../../kernel/task.js";

export interface NamespaceTenancy {
  /** The namespace's name is the tenant (both are DNS labels); off: every task is DEFAULT_TENANT's. */
  fromNamespace: boolean;
  /** Namespaces whose tenant is named explicitly; wins over fromNamespace. */
  byNamespace: Record<string, string>;
}

export function tenantOfNamespace(t: NamespaceTenancy, namespace: string | undefined): string {
  if (namespace && Object.hasOwn(t.byNamespace, namespace)) return t.byNamespace[namespace]!;
  return t.fromNamespace && namespace ? namespace : DEFAULT_TENANT;
}
