// Writes to a resource the smallest way: JSON merge patches, to the status subresource for status
// (so a status write never touches spec, and RBAC can grant status alone) and to the object for
// metadata (finalizers, annotations, labels). client-node 1.4 sends JSON-patch (a list of ops) by
// default; the merge-patch content type has to be set per call through setHeaderOptions.
import { CustomObjectsApi, KubernetesObjectApi, PatchStrategy, setHeaderOptions, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { apiVersionOf, type ResourceRef } from "./resources.js";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

const customObjectsApis = new WeakMap<KubeConfig, CustomObjectsApi>();
const objectApis = new WeakMap<KubeConfig, KubernetesObjectApi>();

function customObjectsApi(kc: KubeConfig): CustomObjectsApi {
  let api = customObjectsApis.get(kc);
  if (!api) customObjectsApis.set(kc, (api = kc.makeApiClient(CustomObjectsApi)));
  return api;
}

function objectApi(kc: KubeConfig): KubernetesObjectApi {
  let api = objectApis.get(kc);
  if (!api) objectApis.set(kc, (api = KubernetesObjectApi.makeApiClient(kc)));
  return api;
}

/**
 * Merge-patches `status` into the object's status subresource: fields given replace theirs (lists
 * such as conditions are replaced whole), null removes a field, fields not given stay. Returns
 * the object as the server stored it.
 */
export async function patchStatus(kc: KubeConfig, res: ResourceRef, namespace: string, name: string, status: object): Promise<KubernetesObject> {
  if (!res.group) throw new Error(`patchStatus: ${res.kind} is a core resource; only custom resources are supported`);
  return (await customObjectsApi(kc).patchNamespacedCustomObjectStatus(
    { group: res.group, version: res.version, namespace, plural: res.plural, name, body: { status } },
    mergePatch,
  )) as KubernetesObject;
}

export interface MetadataPatch {
  /** The whole list (a merge patch replaces lists); [] or null removes every finalizer. */
  finalizers?: string[] | null;
  /** Keys to set; a null value removes that key. */
  annotations?: Record<string, string | null>;
  labels?: Record<string, string | null>;
  /** When given, the server refuses the patch (409) if the object changed since this version. */
  resourceVersion?: string;
}

/** Merge-patches metadata of any namespaced resource (custom or core). Returns the stored object. */
export async function patchMetadata(kc: KubeConfig, res: ResourceRef, namespace: string, name: string, metadata: MetadataPatch): Promise<KubernetesObject> {
  const body = { apiVersion: apiVersionOf(res), kind: res.kind, metadata: { name, namespace, ...metadata } };
  // KubernetesObjectApi's types want V1ObjectMeta (no nulls); the merge-patch nulls are intended.
  return objectApi(kc).patch(body as KubernetesObject, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch);
}

/** Adds a finalizer unless present (optimistic: fails with 409 if the object changed meanwhile). */
export async function addFinalizer(kc: KubeConfig, res: ResourceRef, obj: KubernetesObject, finalizer: string): Promise<KubernetesObject | undefined> {
  const current = obj.metadata?.finalizers ?? [];
  if (current.includes(finalizer)) return undefined;
  return patchMetadata(kc, res, obj.metadata!.namespace!, obj.metadata!.name!, { finalizers: [...current, finalizer], resourceVersion: obj.metadata?.resourceVersion });
}

/** Removes a finalizer if present (optimistic like addFinalizer). */
export async function removeFinalizer(kc: KubeConfig, res: ResourceRef, obj: KubernetesObject, finalizer: string): Promise<KubernetesObject | undefined> {
  const current = obj.metadata?.finalizers ?? [];
  if (!current.includes(finalizer)) return undefined;
  return patchMetadata(kc, res, obj.metadata!.namespace!, obj.metadata!.name!, {
    finalizers: current.filter((f) => f !== finalizer),
    resourceVersion: obj.metadata?.resourceVersion,
  });
}

/** The HTTP status of a client-node ApiException (or of anything with a numeric code), else undefined. */
export function httpStatusOf(err: unknown): number | undefined {
  if (err && typeof err === "object") {
    const code = (err as { code?: unknown }).code ?? (err as { statusCode?: unknown }).statusCode;
    if (typeof code === "number") return code;
  }
  return undefined;
}
