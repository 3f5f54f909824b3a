// The admin keys jetq makes itself. JETQ_ADMIN_KEY (automation: CI, a chart's Secret) is stored as
// its hash at start, idempotently: the same key again changes nothing. `npm start` on a store with
// no working admin key makes one and prints it once; on later starts it says one exists.
import { apiKeyId, hashApiKey } from "./api-key.js";
import { isExpired, type ApiKeyStore, type StoredKey } from "./key-store.js";
import { DEFAULT_TENANT } from "./roles.js";

export const SETTING_KEY_CREATOR = "JETQ_ADMIN_KEY";
export const FIRST_START_CREATOR = "first-start";

/** The record JETQ_ADMIN_KEY stands for (its id is the one in the key). */
export function settingKeyRecord(key: string): StoredKey {
  const id = apiKeyId(key);
  if (!id) throw new Error("JETQ_ADMIN_KEY is not a jetq API key"); // config validated it already
  return {
    id,
    tenant: DEFAULT_TENANT,
    role: "admin",
    name: "JETQ_ADMIN_KEY",
    hash: hashApiKey(key),
    createdAt: new Date().toISOString(),
    createdBy: SETTING_KEY_CREATOR,
    expiresAt: null,
    origin: "setting",
  };
}

export function storeSettingKey(store: ApiKeyStore, key: string): Promise<"stored" | "present"> {
  return store.ensure(settingKeyRecord(key));
}

export type FirstAdminKey = { created: { id: string; key: string } } | { existing: StoredKey[] };

/** A new admin key if no admin key works (none, or all expired); otherwise the ones that do. */
export async function ensureFirstAdminKey(store: ApiKeyStore): Promise<FirstAdminKey> {
  const admins = (await store.list()).filter((k) => k.role === "admin" && !isExpired(k));
  if (admins.length > 0) return { existing: admins };
  const { record, key } = await store.create({ tenant: DEFAULT_TENANT, role: "admin", name: "first admin key (npm start)", createdBy: FIRST_START_CREATOR, origin: "first-start" });
  return { created: { id: record.id, key } };
}
