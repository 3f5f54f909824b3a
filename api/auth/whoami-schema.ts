// The answer of GET /api/whoami: who the caller is to the server. Only zod and the roles, so the
// typed client (and through it the web view) can import it without express.
import { z } from "zod";
import { ROLES } from "./roles.js";

export const WhoAmISchema = z.looseObject({
  /** How the caller proved who it is; `auth_off` when the server asks nobody (JETQ_AUTH=off). */
  via: z.enum(["api_key", "jwt", "auth_off"]),
  /** The key's id, the token's subject, or "anonymous". */
  id: z.string(),
  tenant: z.string(),
  role: z.enum(ROLES),
});
export type WhoAmI = z.infer<typeof WhoAmISchema>;
