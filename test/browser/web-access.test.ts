// The web view with access control on (JETQ_AUTH=on), in real headless Chromium: its files need
// no key but its data does; sign-in checks the key and keeps it in sessionStorage only; a viewer
// sees every page with its actions disabled and the reason next to them; a member may act on one
// task but not on the whole DLQ; an admin may.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newApiKey } from "../../api/auth/api-key.js";
import { startStack, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";
import { collectPageErrors, launchBrowser, screenshot } from "./browser.js";

let stack: Stack;
let browser: Browser;
const adminKey = newApiKey().key;
const keys: Record<"viewer" | "member", string> = { viewer: "", member: "" };
const url = (path: string) => stack.baseUrl + path;
const asAdmin = (method: string, path: string, body?: unknown) => stack.api(method, path, body, { authorization: `Bearer ${adminKey}` });

/** A fresh tab (its own sessionStorage), signed in with `key`. */
async function signedIn(key: string): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  await page.goto(url("/ui/"));
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("[data-testid=role]").waitFor();
  return { context, page, errors };
}

beforeAll(async () => {
  stack = await startStack({ workers: 1, env: { JETQ_AUTH: "on", JETQ_ADMIN_KEY: adminKey } });
  for (const role of ["viewer", "member"] as const) {
    const made = await asAdmin("POST", "/api/keys", { tenant: "default", role, name: `web ${role}` });
    expect(made.status).toBe(201);
    keys[role] = made.body.key;
  }
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe("the web view with access control on", () => {
  it("serves its files without a key, while the API it calls still asks for one", async () => {
    expect((await fetch(url("/ui/"))).status).toBe(200);
    expect((await fetch(url("/ui/dlq"))).status).toBe(200);
    expect((await fetch(url("/api/tasks"))).status).toBe(401);
    expect((await fetch(url("/api/whoami"))).status).toBe(401);
    const me = await stack.api("GET", "/api/whoami", undefined, { authorization: `Bearer ${keys.viewer}` });
    expect(me.body).toMatchObject({ via: "api_key", tenant: "default", role: "viewer" });
  });

  it("signs in with a key it checks first, keeps it in sessionStorage only, and forgets it on sign-out", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url("/ui/tasks"));
    await page.getByLabel("API key").fill("jetq_not-a-real-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    expect(await page.getByRole("alert").innerText()).toMatch(/invalid_credentials/);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await screenshot(page, "sign-in");

    await page.getByLabel("API key").fill(keys.member);
    await page.getByRole("button", { name: "Sign in" }).click();
    expect(await page.locator("[data-testid=role]").innerText()).toBe("member");
    expect(await page.evaluate(() => ({ session: Object.keys(sessionStorage), local: localStorage.length, cookie: document.cookie }))).toEqual({ session: ["jetq.apiKey"], local: 0, cookie: "" });
    await page.reload(); // the same tab keeps it
    expect(await page.locator("[data-testid=role]").innerText()).toBe("member");
    const other = await context.newPage(); // another tab does not
    await other.goto(url("/ui/"));
    await other.getByLabel("API key").waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API key").waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await context.close();
  });

  it("a viewer sees the pages but cannot act: every action is disabled with the reason", async () => {
    const running = (await asAdmin("POST", "/api/tasks", { type: "sleep", payload: { ms: 20_000 } })).body.id as string;
    await asAdmin("POST", "/api/tasks", { type: "poison", payload: {} });
    await waitFor("a dead letter", async () => (await asAdmin("GET", "/api/dlq")).body.total >= 1);
    const { context, page, errors } = await signedIn(keys.viewer);
    try {
      // The overview without the admin-only queue endpoint: the numbers come from /metrics.
      await page.getByText("these numbers come from the public /metrics").waitFor();
      await waitFor("the DLQ depth", async () => Number(await page.locator("[data-testid=dlq-depth]").innerText()) >= 1);

      await page.goto(url(`/ui/tasks/${running}`));
      const cancel = page.getByRole("button", { name: "Cancel task" });
      await cancel.waitFor();
      expect(await cancel.isDisabled()).toBe(true);
      expect(await page.locator(".reason").first().innerText()).toBe("needs the member role (you are viewer)");
      // The reason is the button's description for assistive technology too.
      expect(await cancel.getAttribute("aria-describedby")).toBe(await page.locator(".reason").first().getAttribute("id"));

      await page.goto(url("/ui/dlq"));
      await page.locator("[data-testid=dlq-list] > li").first().waitFor();
      for (const name of ["Retry all matching…", "Discard all matching…", "Retry", "Discard"]) {
        expect(await page.getByRole("button", { name, exact: true }).first().isDisabled(), name).toBe(true);
      }
      expect(await page.getByText("needs the admin role (you are viewer)").count()).toBe(2);
      await screenshot(page, "dlq-viewer");

      await page.goto(url("/ui/books"));
      expect(await page.getByRole("button", { name: "Choose files…" }).isDisabled()).toBe(true);
      expect(await page.locator("#book-files").isDisabled()).toBe(true);
      expect(errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
      // What the page did not offer, the server refuses as well.
      expect((await stack.api("POST", `/api/tasks/${running}/cancel`, undefined, { authorization: `Bearer ${keys.viewer}` })).status).toBe(403);
    } finally {
      await context.close();
    }
  });

  it("a member may cancel one task but not act on the whole DLQ; an admin may", async () => {
    const member = await signedIn(keys.member);
    try {
      const running = (await asAdmin("POST", "/api/tasks", { type: "sleep", payload: { ms: 20_000 } })).body.id as string;
      await member.page.goto(url(`/ui/tasks/${running}`));
      await member.page.getByRole("button", { name: "Cancel task" }).click();
      await waitFor("the member's cancel", async () => (await stack.record(running)).status === "cancelled");
      await member.page.goto(url("/ui/dlq"));
      await member.page.locator("[data-testid=dlq-list] > li").first().waitFor();
      expect(await member.page.getByRole("button", { name: "Retry all matching…" }).isDisabled()).toBe(true);
      expect(await member.page.getByRole("button", { name: "Retry", exact: true }).first().isEnabled()).toBe(true);
      expect(await member.page.getByText("needs the admin role (you are member)").count()).toBe(2);
    } finally {
      await member.context.close();
    }
    const admin = await signedIn(adminKey);
    try {
      expect(await admin.page.locator("[data-testid=role]").innerText()).toBe("admin");
      await admin.page.goto(url("/ui/dlq"));
      await admin.page.locator("[data-testid=dlq-list] > li").first().waitFor();
      await admin.page.getByRole("button", { name: "Discard all matching…" }).click();
      const total = (await asAdmin("GET", "/api/dlq")).body.total as number;
      expect(await admin.page.locator("[data-testid=dry-run-count]").innerText()).toContain(`Dry run: ${total} dead-lettered task`);
      await admin.page.getByRole("button", { name: `Discard ${total}` }).click();
      expect(await admin.page.locator("[data-testid=dlq-message]").innerText()).toBe(`Discarded ${total}.`);
      expect((await asAdmin("GET", "/api/dlq")).body.total).toBe(0);
    } finally {
      await admin.context.close();
    }
  });
});
