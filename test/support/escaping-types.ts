// The test task types plus `escape`, whose handler lets an error escape it (test/fixtures/escaping-worker-process.ts).
import { z } from "zod";
import { testRegistry } from "./test-types.js";

export function escapingRegistry() {
  return testRegistry().register({ name: "escape", description: "lets an error escape the handler", payload: z.object({ how: z.enum(["throw", "reject"]) }).strict() });
}
