// Starts a TypeScript thread entry when jetq runs from source (tsx, vitest): threads do not
// inherit the parent's loader, so tsx is registered here first. Compiled builds start the .js directly.
import { workerData } from "node:worker_threads";
import { tsImport } from "tsx/esm/api";

await tsImport(workerData.entry, import.meta.url);
