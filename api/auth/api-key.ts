// What an API key looks like and how it is kept. A key is `jetq_<id>_<secret>`: the prefix makes a
// leaked key easy to grep for (and for secret scanners to match), the id (a UUID) names its record
// without revealing anything, and the secret is 32 random bytes (256 bits) in hex.
//
// Only SHA-256 of the whole key is stored. A slow password hash (bcrypt, scrypt, argon2) protects
// secrets people choose, which are guessable; 256 random bits are not, so a fast hash leaves a
// stolen hash just as useless, while bcrypt would cost every request ~50-100 ms of CPU and hand
// anyone who sends bad keys a way to burn the API's CPU.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";

export const API_KEY_PREFIX = "jetq_";
const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
export const API_KEY_PATTERN = new RegExp(`^${API_KEY_PREFIX}(${UUID})_[0-9a-f]{64}$`);

/** How to make one by hand, for JETQ_ADMIN_KEY. */
export const API_KEY_RECIPE = `node -e 'const c=require("crypto");console.log("jetq_"+c.randomUUID()+"_"+c.randomBytes(32).toString("hex"))'`;

/** A new key and its id. The key is answered once and never stored. */
export function newApiKey(): { id: string; key: string } {
  const id = randomUUID();
  return { id, key: `${API_KEY_PREFIX}${id}_${randomBytes(32).toString("hex")}` };
}

/** The id of a well-formed key, or null for anything else. */
export function apiKeyId(token: string): string | null {
  return API_KEY_PATTERN.exec(token)?.[1] ?? null;
}

/** What is stored: `sha256:<hex>` of the whole key. */
export function hashApiKey(key: string): string {
  return `sha256:${createHash("sha256").update(key).digest("hex")}`;
}

/** Compares two stored hashes in constant time. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
