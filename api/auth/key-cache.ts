// Keys verified recently, so a request with a good key costs a hash and a map lookup instead of a
// NATS round trip. Only successes are kept, and each for `ttlMs` at most: a key revoked by another
// API process stops working here within that time (the process that revokes it drops it at once).
// Bounded in entries; a flood of bad keys adds nothing, since failures are never kept.
import type { Principal } from "./principal.js";

interface Entry {
  principal: Principal;
  keyId: string;
  /** The key's own expiry (ms since the epoch), checked at every hit; null: none. */
  expiresAtMs: number | null;
  /** When this entry must be verified again. */
  until: number;
}

export class VerifiedKeyCache {
  private readonly entries = new Map<string, Entry>(); // by the key's hash, never the key

  constructor(
    readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The principal of a key verified less than ttlMs ago, unless it has expired since. */
  get(hash: string): { principal: Principal; expired: boolean } | undefined {
    const e = this.entries.get(hash);
    if (!e) return undefined;
    const now = this.now();
    if (now >= e.until) {
      this.entries.delete(hash);
      return undefined;
    }
    return { principal: e.principal, expired: e.expiresAtMs !== null && now >= e.expiresAtMs };
  }

  set(hash: string, keyId: string, principal: Principal, expiresAtMs: number | null): void {
    if (this.ttlMs <= 0) return;
    this.entries.delete(hash); // re-inserted last: the Map's order is the eviction order
    this.entries.set(hash, { principal, keyId, expiresAtMs, until: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Forgets a key at once (it was revoked through this process). */
  forget(keyId: string): void {
    for (const [hash, e] of this.entries) if (e.keyId === keyId) this.entries.delete(hash);
  }

  get size(): number {
    return this.entries.size;
  }
}
