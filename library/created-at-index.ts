// The listing order of the library's records (books, sources): by when they were created, read
// from each record's `createdAt` (see KvSortedIndex: no consumer, no full scan per page).
import type { JetStreamManager } from "@nats-io/jetstream";
import { KvSortedIndex } from "../kernel/kv-index.js";
import { DEFAULT_TENANT } from "../kernel/task.js";

/** With `tenant`, only that tenant's records (a record without one is DEFAULT_TENANT's): one index per tenant listed. */
export function createdAtIndex(jsm: JetStreamManager, bucket: string, keyFilter: string, order: "asc" | "desc", tenant?: string): KvSortedIndex {
  const sortKeyOf = (e: Parameters<ConstructorParameters<typeof KvSortedIndex>[1]["sortKeyOf"]>[0]) => {
    const r = e.json<{ createdAt?: string; tenant?: string }>();
    if (tenant !== undefined && (r.tenant ?? DEFAULT_TENANT) !== tenant) return null;
    return r.createdAt ?? "";
  };
  return new KvSortedIndex(jsm, { bucket, keyFilter, sortKeyOf, order });
}
