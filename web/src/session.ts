// The signed-in session: the API key (kept in sessionStorage only: gone when the tab closes, never
// in localStorage or a cookie), the typed client that sends it, and who the server says we are.
import { JetqClient, type WhoAmI } from "../../client/index.js";

const KEY_ITEM = "jetq.apiKey";

export type Role = WhoAmI["role"];
const ROLES: Role[] = ["viewer", "member", "admin"];

/** Whether `have` may do what needs `need` (the server's role order). */
export const roleAllows = (have: Role, need: Role) => ROLES.indexOf(have) >= ROLES.indexOf(need);

export function storedKey(): string | undefined {
  try {
    return sessionStorage.getItem(KEY_ITEM) ?? undefined;
  } catch {
    return undefined; // storage disabled: sign in again each time
  }
}

export function storeKey(key: string | undefined) {
  try {
    if (key) sessionStorage.setItem(KEY_ITEM, key);
    else sessionStorage.removeItem(KEY_ITEM);
  } catch {
    /* storage disabled */
  }
}

/** A client of the API this page came from, with the key when there is one. */
export function clientFor(apiKey: string | undefined): JetqClient {
  return new JetqClient({ baseUrl: location.origin, ...(apiKey ? { apiKey } : {}) });
}

export interface Session {
  client: JetqClient;
  me: WhoAmI;
  /** Whether the server asks for keys at all (false with JETQ_AUTH=off). */
  signedIn: boolean;
}
