// The web view's first load: the bytes of everything the page loads (raw, gzipped, and as the API
// sends them: scripts and styles gzipped at build time) and, in real headless Chromium with a
// cold cache, the time from navigation start to first paint and to the first meaningful content
// (the overview showing the queue's numbers, then its rates), against a real API and NATS with
// 100 queued tasks.
//
//   node --import tsx bench/web-first-load.ts [--runs 10]
//
// Chromium: CHROMIUM_BIN, else /usr/bin/chromium (Debian's `chromium`). Prints a JSON summary.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";
import { createApp } from "../api/app.js";
import { loadConfig } from "../kit/config.js";
import { startNatsServer } from "../kit/nats-server.js";
import { silentLogger } from "../kernel/logger.js";
import { connectLibrary } from "../library/connection.js";
import { documentTaskTypes } from "../library/task-types.js";
import { JetqClient } from "../client/index.js";

const ROOT = resolve(import.meta.dirname, "..");
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 10;

const built = spawnSync(process.execPath, [join(ROOT, "scripts/build-web.mjs")], { stdio: "inherit" });
if (built.status !== 0) throw new Error("npm run build:web failed");

// Sizes: the page and every asset it references (Vite names them in index.html).
const dist = join(ROOT, "web/dist");
const html = readFileSync(join(dist, "index.html"));
const assets = [...html.toString().matchAll(/(?:src|href)="\/ui\/(assets\/[^"]+)"/g)].map((m) => m[1]!);
const files = [{ name: "index.html", bytes: html }, ...assets.map((a) => ({ name: a, bytes: readFileSync(join(dist, a)) }))];
// `sent`: what the API sends a browser that takes gzip (the build's .gz beside scripts and styles).
const sizes = files.map((f) => {
  const gz = join(dist, `${f.name}.gz`);
  return { file: f.name, bytes: f.bytes.length, gzip: gzipSync(f.bytes, { level: 9 }).length, sent: existsSync(gz) ? statSync(gz).size : f.bytes.length };
});
const total = { bytes: sizes.reduce((n, s) => n + s.bytes, 0), gzip: sizes.reduce((n, s) => n + s.gzip, 0), sent: sizes.reduce((n, s) => n + s.sent, 0) };

const nats = await startNatsServer();
const cfg = loadConfig({ NATS_URL: nats.url, LOG_LEVEL: "error", JETQ_AUTH: "off", JETQ_DATA_DIR: nats.storeDir });
const conn = await connectLibrary(cfg.natsUrl, cfg.topology, { name: "bench-web-api" });
const app = createApp({ conn, sourcePolicy: cfg.documents.sources, registry: documentTaskTypes(), config: cfg.api, defaultTimeoutSeconds: cfg.worker.defaultTimeoutSeconds, log: silentLogger() });
const server = app.listen(0, "127.0.0.1");
await new Promise((r) => server.once("listening", r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const client = new JetqClient({ baseUrl: base });
for (let i = 0; i < 100; i++) await client.createTask({ type: "sync_sources", payload: {} });

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_BIN ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update"] });
interface Run {
  firstContentfulPaintMs: number;
  queueShownMs: number;
  ratesShownMs: number;
}
const runs: Run[] = [];
try {
  for (let i = 0; i < RUNS + 1; i++) {
    const context = await browser.newContext(); // a cold cache every time
    const page = await context.newPage();
    await page.goto(`${base}/ui/`);
    // The overview's numbers: the depth card filled in from the API, then the rates.
    await page.waitForFunction(() => /\d/.test(document.querySelector("figure.spark .spark-value")?.textContent ?? ""));
    const queueShownMs = await page.evaluate(() => performance.now());
    await page.waitForSelector("[data-testid=window-summary]");
    const ratesShownMs = await page.evaluate(() => performance.now());
    const fcp = await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? NaN);
    if (i > 0) runs.push({ firstContentfulPaintMs: fcp, queueShownMs, ratesShownMs }); // the first run warms the server
    await context.close();
  }
} finally {
  await browser.close();
  server.close();
  server.closeAllConnections();
  await conn.close();
  await nats.stop();
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};
const max = (xs: number[]) => Math.max(...xs);
console.log(
  JSON.stringify(
    {
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      runs: RUNS,
      size: { files: sizes, total },
      timeMs: {
        firstContentfulPaint: { median: Math.round(median(runs.map((r) => r.firstContentfulPaintMs))), max: Math.round(max(runs.map((r) => r.firstContentfulPaintMs))) },
        queueShown: { median: Math.round(median(runs.map((r) => r.queueShownMs))), max: Math.round(max(runs.map((r) => r.queueShownMs))) },
        ratesShown: { median: Math.round(median(runs.map((r) => r.ratesShownMs))), max: Math.round(max(runs.map((r) => r.ratesShownMs))) },
      },
    },
    null,
    2,
  ),
);
