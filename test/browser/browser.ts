// The browser tests' browser: Debian's Chromium (CHROMIUM_BIN, which scripts/test.mjs exports)
// driven by playwright-core, one per test file; and the web view built before the tests run
// (skipped when web/dist is fresh).
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
// @ts-expect-error: a plain ES module without types (scripts/ is JavaScript)
import { buildWebView } from "../../scripts/build-web.mjs";

const ROOT = resolve(import.meta.dirname, "../..");
export const SCREENSHOTS = join(ROOT, ".jetq-test", "screenshots");

export async function launchBrowser(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: run the tests through npm test (it installs Debian's chromium and sets CHROMIUM_BIN), or set CHROMIUM_BIN`);
  }
  await (buildWebView as (o: { log: (l: string) => void }) => Promise<void>)({ log: () => {} });
  await mkdir(SCREENSHOTS, { recursive: true });
  return chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update"] });
}

/** Saves a full-page screenshot as a test artifact (.jetq-test/screenshots/<name>.png). */
export async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Errors the page reported (uncaught exceptions, console errors such as CSP violations). */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(`pageerror: ${err.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  return errors;
}
