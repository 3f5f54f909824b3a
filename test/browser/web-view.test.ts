// The web view in real headless Chromium against a real API, NATS and workers (auth off: access
// has its own file): what a user sees on each page, live updates, the pipeline of an upload,
// search, DLQ bulk retry after a dry run, 375 px, the keyboard, and the degraded banner.
// One browser for the file and one page reused; screenshots go to .jetq-test/screenshots/.
import { randomUUID } from "node:crypto";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writePoolStatus } from "../../kernel/pool-status.js";
import { createTask, startStack, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";
import { collectPageErrors, launchBrowser, screenshot } from "./browser.js";

let stack: Stack;
let browser: Browser;
let page: Page;
let pageErrors: string[];
const url = (path: string) => stack.baseUrl + path;

/** Waits until `read` (run in the test, against the page) satisfies `ok`, and returns it. */
async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  return waitFor(what, async () => {
    const v = await read();
    return ok(v) ? { v } : false;
  }, timeoutMs, 100).then((r) => r.v);
}

const text = (selector: string) => page.locator(selector).first().innerText();
const sparkValue = (label: string) => page.locator("figure.spark", { hasText: label }).locator(".spark-value").innerText();

beforeAll(async () => {
  stack = await startStack({ documents: true, workers: 2 });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  pageErrors = collectPageErrors(page);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe("the web view", () => {
  it("is served by the API under /ui/ with cache and security headers, a page for every route and no inline script", async () => {
    const root = await fetch(url("/"), { redirect: "manual" });
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/ui/");
    const route = await fetch(url("/ui/tasks/some-route"));
    expect(route.status).toBe(200);
    expect(route.headers.get("content-type")).toMatch(/text\/html/);
    expect(route.headers.get("cache-control")).toBe("no-cache");
    const csp = route.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(route.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await route.text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/src="\/ui\/assets\//);
      expect(body!.trim()).toBe("");
    }
    const asset = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await fetch(url(asset)); // fetch asks for gzip and inflates it
    expect(js.status).toBe(200);
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(js.headers.get("content-encoding")).toBe("gzip");
    expect(js.headers.get("content-type")).toMatch(/^(application|text)\/javascript/);
    const plain = await fetch(url(asset), { headers: { "accept-encoding": "identity" } });
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect(await js.text()).toBe(await plain.text());
    expect((await fetch(url("/ui/assets/missing-abc.js"))).status).toBe(404);
    expect(await (await fetch(url("/ui/.inputs.json"))).text()).not.toContain("web/src"); // the build's own notes are not served
  });

  it("the overview updates live as tasks run: depth rises and falls, arrivals and completions are counted", async () => {
    await page.goto(url("/ui/"));
    await until("the overview's first numbers", () => sparkValue("Depth"), (v) => v === "0");
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1)); // gone if the page reloads
    for (let i = 0; i < 12; i++) await createTask(stack, { type: "sleep", payload: { ms: 1_500 } });
    const busiest = await until("the depth on the page to show the queued tasks", () => sparkValue("Depth"), (v) => Number(v) > 0);
    expect(Number(busiest)).toBeGreaterThan(0);
    await until("workers busy on the page", () => text("[data-testid=worker-slots]"), (v) => /^[1-8] \/ 8$/.test(v));
    await until("the depth back to 0", () => sparkValue("Depth"), (v) => v === "0");
    const summary = await until("the window summary to count them", () => text("[data-testid=window-summary]"), (v) => /12 arrived, 12 finished \(12 succeeded, 0 failed\)/.test(v));
    expect(summary).toMatch(/p95 [\d.]+ s — within the objective/);
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
    expect(await page.locator("figure.spark", { hasText: "Depth" }).locator("polyline").count()).toBe(1); // a line: several samples
    await screenshot(page, "overview");
  });

  it("the overview shows the WorkerPools an operator reports, desired vs current, and updates them", async () => {
    await page.goto(url("/ui/"));
    await until("no pool yet", () => text("[data-testid=pools-empty]"), (v) => /No operator has reported a WorkerPool/.test(v));
    // What the operator's WorkerPool controller publishes after each reconcile (kernel/pool-status.ts).
    const pool = { namespace: "jobs", name: "books", deployment: "jetq-worker", taskTypes: ["process_book"], minReplicas: 0, maxReplicas: 8, desiredReplicas: 5, currentReplicas: 2, depth: 40, depthSource: "prometheus" as const, updatedAt: new Date().toISOString() };
    await writePoolStatus(stack.conn, pool, 60);
    await until("the pool on the page", () => text("[data-testid=pool-replicas]"), (v) => v === "5 / 2");
    expect(await text("[data-testid=pools]")).toMatch(/jobs\/books → jetq-worker[\s\S]*0–8[\s\S]*40 \(prometheus\)/);
    await writePoolStatus(stack.conn, { ...pool, currentReplicas: 5, updatedAt: new Date().toISOString() }, 60);
    await until("the pool caught up", () => text("[data-testid=pool-replicas]"), (v) => v === "5 / 5");
    await screenshot(page, "overview-pools");
  });

  it("a task page's progress bar moves and its log and events stream until the end; re-run makes a new task with the same payload", async () => {
    const id = await createTask(stack, { type: "echo", payload: { value: "watched", progressSteps: 8, stepMs: 400 } });
    await page.goto(url(`/ui/tasks/${id}`));
    const seen = new Set<number>();
    const linesWhileRunning = new Set<number>();
    await waitFor("the task to finish on the page", async () => {
      const value = Number(await page.locator("[data-testid=progress]").getAttribute("value"));
      seen.add(value);
      const ended = (await page.locator(".badge").first().innerText()) === "succeeded";
      if (!ended) linesWhileRunning.add(await page.locator("[data-testid=task-log] li").count());
      return ended;
    }, 30_000, 100);
    const between = [...seen].filter((v) => v > 0 && v < 100);
    expect(between.length).toBeGreaterThanOrEqual(2); // it moved, live, not only at the end
    // The handler's log lines arrived one by one while it ran, then all eight are there.
    expect([...linesWhileRunning].filter((n) => n > 0 && n < 8).length).toBeGreaterThanOrEqual(2);
    const lines = await page.locator("[data-testid=task-log] li").allInnerTexts();
    expect(lines).toHaveLength(8);
    expect(lines[0]).toMatch(/info #1 finished step 1 of 8 step=1/);
    expect(lines[7]).toMatch(/finished step 8 of 8/);
    const log = await page.locator("[data-testid=event-log] li").allInnerTexts();
    expect(log.filter((l) => /progress/.test(l)).length).toBeGreaterThanOrEqual(2);
    expect(log.at(-1)).toMatch(/end succeeded · 100 %/);
    expect(await text("[data-testid=result]")).toContain('"echoed": "watched"');
    expect(await text("[data-testid=payload]")).toContain('"progressSteps": 8');
    await screenshot(page, "task");

    await page.getByRole("button", { name: "Re-run as a new task" }).click();
    await page.waitForURL((u) => u.pathname.startsWith("/ui/tasks/") && !u.pathname.endsWith(id));
    const rerun = new URL(page.url()).pathname.split("/").at(-1)!;
    expect((await stack.record(rerun)).payload).toEqual({ value: "watched", progressSteps: 8, stepMs: 400 });
    await until("the re-run to succeed", () => page.locator(".badge").first().innerText(), (v) => v === "succeeded");
  });

  it("a task page opened after the end lists each failed attempt the server kept, and the failure lines in the log", async () => {
    const id = await createTask(stack, { type: "flaky", payload: { succeedOnAttempt: 2 } });
    await waitFor("the flaky task to succeed", async () => (await stack.record(id).catch(() => null))?.status === "succeeded", 30_000);
    await page.goto(url(`/ui/tasks/${id}`));
    await until("the failed attempt", () => text("[data-testid=attempt-errors]"), (v) => /attempt 1: handler_error attempt 1 fails on purpose/.test(v));
    expect(await text("[data-testid=attempt-errors]")).toMatch(/→ .* on /); // its times and worker
    await until("the failure in the log", () => text("[data-testid=task-log]"), (v) => /warn #1 attempt 1 failed \(handler_error/.test(v));
  });

  it("cancels a running task from its page", async () => {
    const id = await createTask(stack, { type: "sleep", payload: { ms: 30_000 } });
    await page.goto(url(`/ui/tasks/${id}`));
    await until("the task running", () => page.locator(".badge").first().innerText(), (v) => v === "running");
    await page.getByRole("button", { name: "Cancel task" }).click();
    await until("the page to show it cancelled", () => page.locator(".badge").first().innerText(), (v) => v === "cancelled");
    expect((await stack.record(id)).status).toBe("cancelled");
  });

  it("search finds a task by payload field, by idempotency key and by id", async () => {
    const needle = `needle-${randomUUID().slice(0, 8)}`;
    const key = `key-${randomUUID()}`;
    const id = await createTask(stack, { type: "echo", payload: { value: needle }, idempotencyKey: key });
    for (let i = 0; i < 5; i++) await createTask(stack, { type: "echo", payload: { value: `other-${i}` } });
    await page.goto(url("/ui/tasks"));
    const search = async (by: string, q: string) => {
      await page.getByLabel("Search by").selectOption(by);
      await page.getByLabel("Search", { exact: true }).fill(q);
      await page.getByRole("button", { name: "Apply" }).click();
      return until(`a search by ${by}`, () => page.locator("[data-testid=task-table] tbody tr").allInnerTexts(), (rows) => rows.length === 1);
    };
    expect((await search("payload", `value=${needle}`))[0]).toContain(id.slice(0, 8));
    expect(new URL(page.url()).searchParams.get("q")).toBe(`value=${needle}`); // the search is in the URL: shareable
    expect((await search("idempotencyKey", key))[0]).toContain(id.slice(0, 8));
    expect((await search("id", id))[0]).toContain(id.slice(0, 8));
    await page.getByLabel("Search by").selectOption("payload");
    await page.getByLabel("Search", { exact: true }).fill("value=nothing-has-this");
    await page.getByRole("button", { name: "Apply" }).click();
    await until("an empty result", () => page.locator("[data-testid=task-table] tbody tr").count(), (n) => n === 0);
    // Filters: type and status.
    await page.goto(url("/ui/tasks?status=succeeded&type=echo"));
    const rows = await until("the filtered list", () => page.locator("[data-testid=task-table] tbody tr").allInnerTexts(), (r) => r.length > 0);
    for (const r of rows) expect(r).toMatch(/echo\s+succeeded/);
    await screenshot(page, "tasks");
  });

  it("retries every dead letter of a type after a dry-run count, changing nothing before the confirmation", async () => {
    for (let i = 0; i < 3; i++) await createTask(stack, { type: "poison", payload: {} });
    await waitFor("3 dead letters", async () => (await stack.api("GET", "/api/dlq?type=poison")).body.total === 3);
    await page.goto(url("/ui/dlq"));
    await page.getByLabel("Type").selectOption("poison");
    await until("the entries", () => page.locator("[data-testid=dlq-list] > li").count(), (n) => n === 3);
    await page.locator("[data-testid=dlq-list] summary").first().click(); // inspect one
    await expect.poll(() => page.locator("[data-testid=dlq-list] details[open]").innerText()).toContain("this input can never work");
    await page.getByRole("button", { name: "Retry all matching…" }).click();
    expect(await text("[data-testid=dry-run-count]")).toMatch(/Dry run: 3 dead-lettered poison tasks match now; nothing has changed yet/);
    expect((await stack.api("GET", "/api/dlq?type=poison")).body.total).toBe(3);
    await screenshot(page, "dlq");
    await page.getByRole("button", { name: "Retry 3" }).click();
    expect(await until("the outcome", () => text("[data-testid=dlq-message]"), (v) => v.length > 0)).toBe("Retried 3.");
    // Replayed, they fail again (poison) and come back: the page keeps up.
    await waitFor("the replays dead-lettered again", async () => (await stack.api("GET", "/api/dlq?type=poison")).body.total === 3);
    await until("the page to list them again", () => page.locator("[data-testid=dlq-list] > li").count(), (n) => n === 3);
  });

  it("an upload (drag and drop, several files) shows both pipeline steps, the book becomes searchable and makes a quiz", async () => {
    await page.goto(url("/ui/books"));
    const files = [
      { name: "astrolabes.md", text: "# Instruments\n\nThe archivist catalogues seventeen brass astrolabes recovered from the sunken merchant ship near the lighthouse. Each astrolabe measured the altitude of stars for navigators crossing the strait.\n" },
      { name: "tides.md", text: "# Tides\n\nThe harbour master keeps tide tables for the estuary, where spring tides flood the salt marshes twice a month and the ferry waits for slack water.\n" },
    ];
    const dataTransfer = await page.evaluateHandle((fs) => {
      const dt = new DataTransfer();
      for (const f of fs) dt.items.add(new File([f.text], f.name, { type: "text/markdown" }));
      return dt;
    }, files);
    await page.dispatchEvent("[data-testid=dropzone]", "drop", { dataTransfer });
    await until("both uploads listed", () => page.locator("[data-testid=uploads] > li").count(), (n) => n === 2);
    for (const f of files) {
      const upload = page.locator("[data-testid=uploads] > li", { hasText: f.name });
      await until(`${f.name}: process_book done`, () => upload.locator("[data-step=process_book]").getAttribute("data-state"), (s) => s === "succeeded");
      await until(`${f.name}: generate_embeddings done`, () => upload.locator("[data-step=generate_embeddings]").getAttribute("data-state"), (s) => s === "succeeded");
      expect(await upload.locator("[data-step=generate_embeddings] a").innerText()).toMatch(/^task [0-9a-f]{8}$/);
    }
    await page.getByLabel("Search text").fill("brass astrolabes navigators");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    const results = await until("search results", () => page.locator("[data-testid=search-results] > li").allInnerTexts(), (r) => r.length > 0);
    expect(results[0]).toContain("seventeen brass astrolabes");
    const book = page.locator("[data-testid=book-list] > li", { hasText: "astrolabes.md" });
    await until("the book ready in the library", () => book.locator(".badge").innerText(), (s) => s === "ready");
    await book.getByRole("button", { name: "Make a quiz" }).click();
    const questions = await until("the quiz", () => book.locator("[data-testid=quiz] > li").count(), (n) => n > 0);
    expect(questions).toBeGreaterThan(0);
    await screenshot(page, "books");
  });

  it("at 375 px wide nothing overflows on any page", async () => {
    const id = await createTask(stack, { type: "echo", payload: { value: "a long enough value to wrap ".repeat(8) } });
    await waitFor("the task to succeed", async () => (await stack.record(id)).status === "succeeded");
    await page.setViewportSize({ width: 375, height: 800 });
    try {
      for (const [name, path, ready] of [
        ["overview", "/ui/", "[data-testid=window-summary]"],
        ["tasks", "/ui/tasks", "[data-testid=task-table] tbody tr"],
        ["task", `/ui/tasks/${id}`, "[data-testid=result]"],
        ["dlq", "/ui/dlq", "[data-testid=dlq-count]:not(:text('Loading…'))"],
        ["books", "/ui/books", "#library-h"],
      ] as const) {
        await page.goto(url(path));
        await page.locator(ready).first().waitFor();
        const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth }));
        expect(widths, `${name} at 375 px`).toEqual({ doc: 375, body: 375 });
        await screenshot(page, `${name}-375`);
      }
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  it("the main actions are reachable and usable with the keyboard alone", async () => {
    await page.goto(url("/ui/tasks"));
    await page.locator("[data-testid=task-table]").waitFor();
    const reached: string[] = [];
    for (let i = 0; i < 25; i++) {
      await page.keyboard.press("Tab");
      reached.push(await page.evaluate(() => {
        const el = document.activeElement as HTMLElement | null;
        if (!el) return "";
        const label = el.id ? document.querySelector(`label[for="${el.id}"]`)?.textContent : null;
        return `${el.tagName.toLowerCase()}:${(label ?? el.innerText ?? "").trim()}`;
      }));
    }
    expect(reached[0]).toBe("a:Skip to content");
    for (const want of ["a:Overview", "a:Tasks", "a:Dead letters", "a:Books", "select:Status", "select:Type", "select:Priority", "input:Created after", "select:Search by", "input:Search", "button:Apply"]) {
      expect(reached, want).toContain(want);
    }
    // A search from the keyboard: type, Enter submits.
    await page.getByLabel("Search by").focus();
    await page.keyboard.press("Tab");
    await page.keyboard.type("value=watched");
    await page.keyboard.press("Enter");
    await page.waitForURL((u) => u.searchParams.get("q") === "value=watched");
    // Follow a link with Enter, then open the bulk retry with Space.
    await page.getByRole("link", { name: "Dead letters" }).focus();
    await page.keyboard.press("Enter");
    await page.waitForURL((u) => u.pathname === "/ui/dlq");
    await page.getByRole("button", { name: "Retry all matching…" }).focus();
    await page.keyboard.press("Space");
    await page.locator("[data-testid=bulk-confirm]").waitFor();
    // Focus moves to the decision once the dry run has answered.
    expect(await until("focus on the decision", () => page.evaluate(() => document.activeElement?.textContent ?? ""), (t) => /^Retry \d+$/.test(t))).toMatch(/^Retry \d+$/);
    await page.keyboard.press("Tab");
    await page.keyboard.press("Enter"); // Cancel
    await page.locator("[data-testid=bulk-confirm]").waitFor({ state: "detached" });
  });

  it("says clearly when the API cannot be reached, and when NATS is away; recovers by itself", async () => {
    await page.goto(url("/ui/"));
    await page.locator("[data-testid=window-summary]").waitFor();
    expect(await page.locator("[data-testid=degraded-banner]").count()).toBe(0);

    // The API out of reach: every request to it fails (the page's own files are loaded already).
    const apiAway = (u: URL) => !u.pathname.startsWith("/ui/");
    await page.route(apiAway, (r) => r.abort("connectionrefused"));
    expect(await until("the API-away banner", () => page.locator("[data-testid=degraded-banner]").innerText().catch(() => ""), (t) => t.length > 0)).toMatch(/the API cannot be reached/);
    // The panels say their reads fail rather than showing stale numbers as if live, and the page stays usable.
    await until("the queue panel's error", () => page.locator("[role=alert]", { hasText: "Queue state" }).count(), (n) => n > 0);
    expect(await page.locator("h1").innerText()).toBe("Overview");
    await page.getByRole("link", { name: "Tasks" }).first().click();
    await until("the tasks page's error", () => page.locator("main [role=alert]").count(), (n) => n > 0);
    await page.getByRole("link", { name: "Overview" }).first().click();
    await page.unroute(apiAway);
    await until("the banner gone", () => page.locator("[data-testid=degraded-banner]").count(), (n) => n === 0);
    await until("the panels' errors gone", () => page.locator("main [role=alert]").count(), (n) => n === 0);
    await page.locator("[data-testid=window-summary]").waitFor();

    await stack.nats.stop();
    try {
      const banner = await until("the NATS-away banner", () => page.locator("[data-testid=degraded-banner]").innerText().catch(() => ""), (t) => t.length > 0);
      expect(banner).toMatch(/the API cannot reach NATS/);
      expect(await page.locator("[data-testid=degraded-banner]").getAttribute("data-health")).toBe("nats_down");
      await screenshot(page, "degraded");
    } finally {
      await stack.nats.restart();
    }
    await until("the banner gone once NATS is back", () => page.locator("[data-testid=degraded-banner]").count(), (n) => n === 0, 60_000);
    // Only what the outage itself caused reached the console: failed requests while NATS was away.
    const unexpected = pageErrors.filter((e) => !/Failed to load resource|net::ERR_/.test(e));
    expect(unexpected).toEqual([]);
  }, 120_000);
});
