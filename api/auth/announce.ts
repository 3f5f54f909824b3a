// What the API says about access when it starts: auth off (loudly), JETQ_ADMIN_KEY in place, or
// — for `npm start` (JETQ_PRINT_FIRST_ADMIN_KEY) — a first admin key, printed this once, or
// that one exists already. Nothing here ever logs a key: only the first key goes to `out`.
import type { Logger } from "../../kernel/logger.js";
import type { AuthConfig } from "../config.js";
import type { Access } from "./access.js";
import { apiKeyId } from "./api-key.js";
import { ensureFirstAdminKey } from "./bootstrap.js";
import { isExpired } from "./key-store.js";

export interface AnnounceDeps {
  access: Access;
  auth: AuthConfig;
  log: Logger;
  /** Whether the API listens where other machines can reach it (HOST). */
  reachableFromOtherHosts: boolean;
  /** Where a person reads (the terminal of npm start): the first admin key goes here, nowhere else. */
  out: (line: string) => void;
}

export async function announceAccess({ access, auth, log, reachableFromOtherHosts, out }: AnnounceDeps): Promise<void> {
  if (!auth.enabled) {
    const exposure = reachableFromOtherHosts ? " It listens on an address OTHER HOSTS CAN REACH (HOST)." : "";
    const banner = `AUTHENTICATION IS OFF (JETQ_AUTH=off): anyone who reaches this API acts as an admin of every tenant: reads, changes and deletes everything.${exposure} For local experiments only.`;
    log.warn(banner, { auth: "off" });
    out(`[jetq] !!! ${banner}`);
    return;
  }
  try {
    if (auth.adminKey) {
      await access.ready();
      log.info("access: the admin key of JETQ_ADMIN_KEY is in place", { keyId: apiKeyId(auth.adminKey) });
      return;
    }
    if (!auth.printFirstAdminKey) {
      const admins = (await access.store.list()).filter((k) => k.role === "admin" && !isExpired(k));
      if (admins.length === 0) log.warn("access: no admin key exists, so no key can be made: set JETQ_ADMIN_KEY (or start once with JETQ_PRINT_FIRST_ADMIN_KEY=true)");
      return;
    }
    const first = await ensureFirstAdminKey(access.store);
    if ("created" in first) {
      log.info("access: first admin key made and printed (only its hash is stored)", { keyId: first.created.id });
      out("[jetq] ──────────────────────────────────────────────────────────────────────────────");
      out("[jetq] First admin key (shown this once; only its hash is stored — keep it now):");
      out(`[jetq]   ${first.created.key}`);
      out(`[jetq] Use it as:  curl -H "Authorization: Bearer <key>" …   (make more keys with POST /api/keys)`);
      out("[jetq] ──────────────────────────────────────────────────────────────────────────────");
    } else {
      const k = first.existing[0]!;
      const more = first.existing.length > 1 ? ` and ${first.existing.length - 1} more` : "";
      out(`[jetq] an admin key exists (id ${k.id}, made ${k.createdAt}${more}); it was printed when it was made. Make more with POST /api/keys, or set JETQ_ADMIN_KEY`);
    }
  } catch (err) {
    log.error("access: storing or checking the admin key failed; keys already stored still work", { error: String(err) });
  }
}
