#!/usr/bin/env node
// The package's `bin`: runs the CLI's TypeScript through tsx, like the project's other programs
// run from source, so it works from a clone right after `npm ci` (npx jetq, node_modules/.bin/jetq).
import { register } from "tsx/esm/api";

register();
const { main } = await import("./main.ts");
await main();
