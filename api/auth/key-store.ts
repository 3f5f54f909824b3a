// API keys in the `jetq-keys` KV bucket (created with the kernel's topology): one record per key,
// under its id, holding its hash, tenant, role and expiry; never the key. Revoking deletes the
// record. Reads are direct gets and a consumer-less scan, so a lookup leaves nothing on the server.
import { Kvm, type KV } from "@nats-io/kv";
import type { JetqConnection } from "../../kernel/connection.js";
import { UnavailableError } from "../../kernel/errors.js";
import { isLiveEntry } from "../../kernel/kv-live.js";
import { scanKv } from "../../kernel/kv-scan.js";
import { TOPOLOGY } from "../../kernel/topology.js";
import { API_KEY_PREFIX, hashApiKey, newApiKey } from "./api-key.js";
import type { KeyView } from "./key-schemas.js";
import type { Role } from "./roles.js";

/** Where a key came from: `POST /api/keys`, the key `npm start` printed at first start, or JETQ_ADMIN_KEY. */
export type KeyOrigin = "api" | "first-start" | "setting";

export interface StoredKey {
  id: string;
  tenant: string;
  role: Role;
  name: string | null;
  /** `sha256:<hex>` of the whole key (api-key.ts). */
  hash: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  origin: KeyOrigin;
}

export interface NewKey {
  tenant: string;
  role: Role;
  name?: string | null;
  expiresAt?: string | null;
  createdBy: string;
  origin: KeyOrigin;
}

export const isExpired = (k: Pick<StoredKey, "expiresAt">, now = Date.now()): boolean => k.expiresAt !== null && Date.parse(k.expiresAt) <= now;

/** What may be shown of a key: everything but its hash. */
export function keyView(k: StoredKey, now = Date.now()): KeyView {
  return {
    id: k.id,
    tenant: k.tenant,
    role: k.role,
    name: k.name,
    prefix: `${API_KEY_PREFIX}${k.id}_`,
    createdAt: k.createdAt,
    createdBy: k.createdBy,
    expiresAt: k.expiresAt,
    expired: isExpired(k, now),
  };
}

export class ApiKeyStore {
  private kv: Promise<KV> | undefined;

  constructor(private readonly conn: JetqConnection) {}

  private bucket(): Promise<KV> {
    // Asked for NATS while it is away, a KV call would wait out its timeout: say so at once.
    if (!this.conn.connected) return Promise.reject(new UnavailableError("unavailable", "jetq cannot reach NATS right now; try again shortly", { cause: "not connected to NATS (reconnecting)" }));
    this.kv ??= new Kvm(this.conn.js).open(TOPOLOGY.keysBucket).catch((err: unknown) => {
      this.kv = undefined; // the next call tries again
      throw err;
    });
    return this.kv;
  }

  /** Makes a key: its record is stored (first writer wins on the id), the key is returned once. */
  async create(spec: NewKey): Promise<{ record: StoredKey; key: string }> {
    const { id, key } = newApiKey();
    const record: StoredKey = {
      id,
      tenant: spec.tenant,
      role: spec.role,
      name: spec.name ?? null,
      hash: hashApiKey(key),
      createdAt: new Date().toISOString(),
      createdBy: spec.createdBy,
      expiresAt: spec.expiresAt ?? null,
      origin: spec.origin,
    };
    await (await this.bucket()).create(id, JSON.stringify(record));
    return { record, key };
  }

  /** Stores the record of a key made elsewhere (JETQ_ADMIN_KEY) unless it is there already, as it is. */
  async ensure(record: StoredKey): Promise<"stored" | "present"> {
    const kv = await this.bucket();
    const current = await this.get(record.id);
    if (current && current.hash === record.hash && current.role === record.role && current.tenant === record.tenant && current.expiresAt === record.expiresAt) return "present";
    await kv.put(record.id, JSON.stringify(current ? { ...record, createdAt: current.createdAt } : record));
    return "stored";
  }

  async get(id: string): Promise<StoredKey | null> {
    const e = await (await this.bucket()).get(id);
    return isLiveEntry(e) ? e.json<StoredKey>() : null;
  }

  /** Every key, oldest first. */
  async list(): Promise<StoredKey[]> {
    await this.bucket();
    const entries = await scanKv(this.conn.jsm, TOPOLOGY.keysBucket);
    return entries.map((e) => e.json<StoredKey>()).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Deletes the key's record; false if there was none. */
  async revoke(id: string): Promise<boolean> {
    const kv = await this.bucket();
    if (!(await this.get(id))) return false;
    await kv.delete(id);
    return true;
  }
}
