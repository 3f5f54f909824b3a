// Chromium for the browser tests: Debian's package (never a downloaded browser), installed with
// apt-get when missing (as root). CHROMIUM_BIN, if set, names another binary to use instead.
import { existsSync } from "node:fs";
import { ensureAptPackage } from "../tools.mjs";

const DEBIAN_CHROMIUM = "/usr/bin/chromium";

/** The path of a Chromium binary the browser tests can drive. */
export async function ensureChromium() {
  const configured = process.env.CHROMIUM_BIN;
  if (configured) {
    if (!existsSync(configured)) throw new Error(`CHROMIUM_BIN=${configured}: no such file`);
    return configured;
  }
  await ensureAptPackage("chromium", DEBIAN_CHROMIUM);
  return DEBIAN_CHROMIUM;
}
