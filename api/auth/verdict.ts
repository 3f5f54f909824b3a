// What checking a credential answers: who the caller is, or why it is refused (a 401).

import type { Principal } from "./principal.js";

export interface Refusal {
  /** `invalid_credentials`, `credentials_expired`, `invalid_token`… */
  code: string;
  message: string;
}

export type Verdict = { principal: Principal } | { refusal: Refusal };

export const refused = (code: string, message: string): Verdict => ({ refusal: { code, message } });
