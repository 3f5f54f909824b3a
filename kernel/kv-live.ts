// Whether a KV value is live: a PUT that holds a value. Delete and purge markers (written by a
// client, or by the server when a per-message TTL runs out) and empty values are not. One rule for
// both shapes a value comes in: a KV entry (`kv.get`) and a raw message on the bucket's stream.
import type { StoredMsg } from "@nats-io/jetstream";
import type { KvEntry } from "@nats-io/kv";

/** True for an entry read with `kv.get` that holds a value. */
export function isLiveEntry(e: KvEntry | null | undefined): e is KvEntry & { operation: "PUT" } {
  return !!e && e.operation === "PUT" && e.value.length > 0;
}

/** True for delete and purge markers read straight off the bucket's stream (direct gets). */
export function isKvMarker(m: StoredMsg): boolean {
  const op = m.header?.get("KV-Operation");
  return op === "DEL" || op === "PURGE" || m.header?.has("Nats-Marker-Reason") === true || m.data.length === 0;
}
