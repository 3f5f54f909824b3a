// `npm run build:web`: builds the web view (web/ → web/dist) with Vite, offline, unless the build
// is newer than every file it was made from (listed by the last build in web/dist/.inputs.json),
// the page, the Vite config and the lockfile: re-runs of npm start and npm test then cost nothing.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const WEB = join(ROOT, "web");
const DIST = join(WEB, "dist");
const INPUTS = join(DIST, ".inputs.json");

const mtime = (p) => {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return Infinity; // an input that disappeared: build again
  }
};

/** Whether web/dist was built after the last change to anything it was built from. */
export function webViewIsFresh() {
  if (!existsSync(join(DIST, "index.html")) || !existsSync(INPUTS)) return false;
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(INPUTS, "utf8"));
  } catch {
    return false;
  }
  const built = mtime(INPUTS);
  const always = [join(WEB, "index.html"), join(WEB, "vite.config.ts"), join(ROOT, "package-lock.json")];
  return [...always, ...inputs.map((p) => join(ROOT, p))].every((p) => mtime(p) < built);
}

/** Builds the web view unless it is fresh; `log` gets one line either way. */
export async function buildWebView({ force = false, log = (line) => console.log(`[build:web] ${line}`) } = {}) {
  if (!force && webViewIsFresh()) {
    log("web/dist is up to date");
    return;
  }
  const started = Date.now();
  const { build } = await import("vite");
  await build({ configFile: join(WEB, "vite.config.ts"), logLevel: "warn" });
  log(`built web/dist in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  buildWebView({ force: process.argv.includes("--force") }).catch((err) => {
    console.error(`[build:web] ${err.message}`);
    process.exit(1);
  });
}
