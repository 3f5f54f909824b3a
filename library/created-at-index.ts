// The listing order of the library's records (books, sources): by when they were created, read
// from each record's `createdAt` (see KvSortedIndex: no consumer, no full scan per page).
import type { JetStreamManager } from "@nats-io/jetstream";
import { KvSortedIndex } from "../kernel/kv-index.js";

export function createdAtIndex(jsm: JetStreamManager, bucket: string, keyFilter: string, order: "asc" | "desc"): KvSortedIndex {
  return new KvSortedIndex(jsm, { bucket, keyFilter, sortKeyOf: (e) => e.json<{ createdAt?: string }>().createdAt ?? "", order });
}
