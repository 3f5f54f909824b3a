// Source readers against a real (local) HTTP server and a real directory: what changed since the
// last sync, document by document, and every way a source may not reach outside what it is allowed.
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, unlink, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { NonRetryableError } from "../../kernel/errors.js";
import { refusedRange, vetUrl } from "../../worker/sources/address-guard.js";
import { DirectorySourceReader } from "../../worker/sources/directory-source-reader.js";
import { HttpSourceReader } from "../../worker/sources/http-source-reader.js";
import { readerFor } from "../../worker/sources/index.js";
import type { DocumentCheck, KnownDocument, SourceLimits, SourceReader, SourceSpec } from "../../worker/sources/source-reader.js";

const limits = (over: Partial<SourceLimits> = {}): SourceLimits => ({
  allowPrivateAddresses: false,
  allowedHosts: [],
  directoryRoot: "",
  maxBytes: 1024 * 1024,
  timeoutMs: 5_000,
  ...over,
});

const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

async function collect(reader: SourceReader, spec: SourceSpec, known: Record<string, KnownDocument> = {}): Promise<DocumentCheck[]> {
  const out: DocumentCheck[] = [];
  for await (const check of reader.check(spec, known)) out.push(check);
  return out;
}

/** What the sync would remember after these checks. */
function remember(known: Record<string, KnownDocument>, checks: DocumentCheck[]): Record<string, KnownDocument> {
  const next = { ...known };
  for (const c of checks) {
    if (c.state === "deleted") delete next[c.key];
    else if (c.state === "new" || c.state === "changed") {
      next[c.key] = { key: c.key, hash: c.hash, ...(c.etag ? { etag: c.etag } : {}), ...(c.lastModified ? { lastModified: c.lastModified } : {}) };
    }
  }
  return next;
}

const states = (checks: DocumentCheck[]) => Object.fromEntries(checks.map((c) => [c.key, c.state]));

async function removeTempFiles(checks: DocumentCheck[]) {
  for (const c of checks) if (c.state === "new" || c.state === "changed") await rm(c.filePath, { force: true });
}

async function refusal(promise: Promise<unknown>): Promise<NonRetryableError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NonRetryableError);
  return err as NonRetryableError;
}

/** A little document server whose documents tests change, add and remove between syncs. */
class DocumentServer {
  /** Served with an ETag; honours If-None-Match. */
  etagBody: string | null = "first edition";
  /** Served with Last-Modified; honours If-Modified-Since. */
  lmBody: string | null = "# Notes\nversion one";
  lmDate = new Date("2024-01-01T00:00:00Z");
  /** Served with neither: only its hash tells a change. */
  plainBody: string | null = "<html><body>plain</body></html>";
  goneStatus = 404;
  readonly hits: Record<string, number> = {};
  readonly lastHeaders: Record<string, http.IncomingHttpHeaders> = {};
  private server = http.createServer((req, res) => this.handle(req, res));
  port = 0;

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const route = new URL(req.url ?? "/", "http://x").pathname;
    this.hits[route] = (this.hits[route] ?? 0) + 1;
    this.lastHeaders[route] = req.headers;
    switch (route) {
      case "/etag/book.txt": {
        if (this.etagBody === null) return void res.writeHead(410).end();
        const etag = `"${sha256(this.etagBody).slice(0, 16)}"`;
        if (req.headers["if-none-match"] === etag) return void res.writeHead(304, { etag }).end();
        return void res.writeHead(200, { etag, "content-type": "text/plain; charset=utf-8" }).end(this.etagBody);
      }
      case "/lm/notes.md": {
        if (this.lmBody === null) return void res.writeHead(404).end();
        const since = req.headers["if-modified-since"];
        if (since && Date.parse(since) >= this.lmDate.getTime()) return void res.writeHead(304).end();
        return void res.writeHead(200, { "last-modified": this.lmDate.toUTCString(), "content-type": "text/markdown" }).end(this.lmBody);
      }
      case "/plain/page": {
        if (this.plainBody === null) return void res.writeHead(404).end();
        return void res.writeHead(200, { "content-type": "text/html" }).end(this.plainBody);
      }
      case "/gone.txt":
        return void res.writeHead(this.goneStatus).end();
      case "/redirect/relative":
        return void res.writeHead(302, { location: "/etag/book.txt" }).end();
      case "/redirect/private":
        // Never followed: the guard refuses 10.0.0.1 before any connection is made.
        return void res.writeHead(302, { location: "http://10.0.0.1/latest/meta-data/" }).end();
      case "/redirect/metadata":
        return void res.writeHead(307, { location: "http://169.254.169.254/latest/meta-data/" }).end();
      case "/redirect/localhost":
        return void res.writeHead(301, { location: `http://localhost:${this.port}/etag/book.txt` }).end();
      case "/redirect/loop":
        return void res.writeHead(302, { location: "/redirect/loop" }).end();
      case "/big/streamed": {
        res.writeHead(200, { "content-type": "text/plain" });
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(1000, 97));
        return void res.end();
      }
      case "/big/declared":
        return void res.writeHead(200, { "content-type": "text/plain", "content-length": "10000" }).end(Buffer.alloc(10_000, 97));
      case "/slow":
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("a little, then nothing");
        return; // never ends; stop() closes it
      default:
        return void res.writeHead(404).end();
    }
  }
}

describe("HTTP source reader", () => {
  const server = new DocumentServer();
  let tempDir: string;
  const allowLocal = () => limits({ allowedHosts: ["127.0.0.1"] });

  beforeAll(() => server.start());
  afterAll(() => server.stop());
  beforeEach(async () => {
    tempDir = await mkdtemp(path.join(tmpdir(), "jetq-http-source-"));
    return () => rm(tempDir, { recursive: true, force: true });
  });

  it("reports documents as new, then unchanged, changed, added and deleted across syncs", async () => {
    const reader = new HttpSourceReader(allowLocal(), { tempDir });
    const etagUrl = `${server.base}/etag/book.txt`;
    const lmUrl = `${server.base}/lm/notes.md`;
    const plainUrl = `${server.base}/plain/page`;
    const spec: SourceSpec = { kind: "http", urls: [etagUrl, lmUrl, plainUrl] };

    // First sync: everything is new, downloaded to a temp file with what the server said about it.
    const first = await collect(reader, spec);
    expect(states(first)).toEqual({ [etagUrl]: "new", [lmUrl]: "new", [plainUrl]: "new" });
    const book = first.find((c) => c.key === etagUrl)!;
    if (book.state !== "new") throw new Error("expected new");
    expect(await readFile(book.filePath, "utf8")).toBe("first edition");
    expect(book).toMatchObject({ filename: "book.txt", hash: sha256("first edition"), size: 13, contentType: "text/plain; charset=utf-8" });
    expect(book.etag).toMatch(/^"/);
    const notes = first.find((c) => c.key === lmUrl)!;
    expect(notes).toMatchObject({ filename: "notes.md", lastModified: server.lmDate.toUTCString() });
    const page = first.find((c) => c.key === plainUrl)!;
    expect(page).toMatchObject({ filename: "page.html" });
    await removeTempFiles(first);
    let known = remember({}, first);

    // Nothing changed: ETag and Last-Modified answer 304; the plain page is downloaded and its hash matches.
    const second = await collect(reader, spec, known);
    expect(states(second)).toEqual({ [etagUrl]: "unchanged", [lmUrl]: "unchanged", [plainUrl]: "unchanged" });
    expect(server.lastHeaders["/etag/book.txt"]!["if-none-match"]).toBe(known[etagUrl]!.etag);
    expect(server.lastHeaders["/lm/notes.md"]!["if-modified-since"]).toBe(known[lmUrl]!.lastModified);
    expect(await readdir(tempDir)).toEqual([]);

    // Every document changes.
    server.etagBody = "second edition";
    server.lmBody = "# Notes\nversion two";
    server.lmDate = new Date("2024-02-01T00:00:00Z");
    server.plainBody = "<html><body>plain, revised</body></html>";
    const third = await collect(reader, spec, known);
    expect(states(third)).toEqual({ [etagUrl]: "changed", [lmUrl]: "changed", [plainUrl]: "changed" });
    const revised = third.find((c) => c.key === plainUrl)!;
    if (revised.state !== "changed") throw new Error("expected changed");
    expect(revised.hash).toBe(sha256(server.plainBody));
    await removeTempFiles(third);
    known = remember(known, third);

    // One disappears from the server (410), one from the source's list, and a new one appears.
    server.etagBody = null;
    const movedSpec: SourceSpec = { kind: "http", urls: [etagUrl, plainUrl, `${server.base}/redirect/relative`] };
    const fourth = await collect(reader, movedSpec, known);
    expect(states(fourth)).toEqual({ [etagUrl]: "deleted", [plainUrl]: "unchanged", [`${server.base}/redirect/relative`]: "deleted", [lmUrl]: "deleted" });
    server.etagBody = "third edition";
    const fifth = await collect(reader, movedSpec, remember(known, fourth));
    expect(states(fifth)).toMatchObject({ [etagUrl]: "new", [`${server.base}/redirect/relative`]: "new" });
    // A followed redirect names the file after where it ended up.
    expect(fifth.find((c) => c.key.endsWith("/redirect/relative"))).toMatchObject({ filename: "book.txt" });
    await removeTempFiles(fifth);
  });

  it("treats 404 and 410 as deleted", async () => {
    const reader = new HttpSourceReader(allowLocal(), { tempDir });
    const url = `${server.base}/gone.txt`;
    const known = { [url]: { key: url, hash: "abc" } };
    for (const status of [404, 410]) {
      server.goneStatus = status;
      expect(await collect(reader, { kind: "http", urls: [url] }, known)).toEqual([{ key: url, state: "deleted" }]);
    }
  });

  it("still reports the other URLs when one cannot be fetched, then fails the sync with that URL's error", async () => {
    const reader = new HttpSourceReader(allowLocal(), { tempDir });
    server.etagBody = "still here";
    const good = `${server.base}/etag/book.txt`;
    const refused = "http://10.0.0.1/book.txt";
    const seen: DocumentCheck[] = [];
    const err = await (async () => {
      for await (const c of reader.check({ kind: "http", urls: [refused, good] }, { [refused]: { key: refused, hash: "old" } })) seen.push(c);
    })().catch((e: unknown) => e);
    expect(states(seen)).toEqual({ [good]: "new" });
    expect(err).toMatchObject({ code: "address_refused" });
    await removeTempFiles(seen);
  });

  it("connects to the address it vetted, keeping the real host name in the Host header", async () => {
    // books.example resolves only through this resolver: the request can reach the server only if the connection is pinned.
    const reader = new HttpSourceReader(limits({ allowedHosts: ["books.example"] }), {
      tempDir,
      resolve: async () => [{ address: "127.0.0.1", family: 4 }],
    });
    const url = `http://books.example:${server.port}/etag/book.txt`;
    server.etagBody = "pinned";
    const checks = await collect(reader, { kind: "http", urls: [url] });
    expect(checks[0]).toMatchObject({ key: url, state: "new", hash: sha256("pinned") });
    expect(server.lastHeaders["/etag/book.txt"]!.host).toBe(`books.example:${server.port}`);
    await removeTempFiles(checks);
  });

  describe("refuses what could reach private networks (SSRF)", () => {
    it("refuses the local server when it is not explicitly allowed, by IP and by name", async () => {
      const reader = new HttpSourceReader(limits(), { tempDir });
      const before = server.hits["/etag/book.txt"] ?? 0;
      for (const host of ["127.0.0.1", "localhost"]) {
        const err = await refusal(collect(reader, { kind: "http", urls: [`http://${host}:${server.port}/etag/book.txt`] }));
        expect(err.code).toBe("address_refused");
        expect(err.message).toContain(host);
        expect(err.message).toMatch(/loopback/);
      }
      expect(server.hits["/etag/book.txt"] ?? 0).toBe(before);
    });

    it("refuses cloud metadata, IPv6 loopback and private addresses before connecting", async () => {
      const reader = new HttpSourceReader(limits({ allowedHosts: ["127.0.0.1"] }), { tempDir });
      const cases: Array<[string, RegExp]> = [
        ["http://169.254.169.254/latest/meta-data/", /link-local/],
        ["http://[::1]/", /loopback/],
        ["http://10.0.0.1/", /private \(10\.0\.0\.0\/8\)/],
        ["http://[::ffff:169.254.169.254]/", /link-local.*IPv4-mapped/],
        ["http://0.0.0.0/", /unspecified/],
        ["http://100.64.1.1/", /carrier-grade NAT/],
        ["http://[fd00::1]/", /unique-local/],
        ["file:///etc/passwd", /only http and https/],
      ];
      for (const [url, range] of cases) {
        const err = await refusal(collect(reader, { kind: "http", urls: [url] }));
        expect(err.code).toBe("address_refused");
        expect(err.message).toMatch(range);
      }
    });

    it("re-checks every redirect hop: an allowed host cannot redirect to a private one", async () => {
      const reader = new HttpSourceReader(allowLocal(), { tempDir });
      for (const [route, host] of [
        ["/redirect/private", "10.0.0.1"],
        ["/redirect/metadata", "169.254.169.254"],
        ["/redirect/localhost", "localhost"],
      ] as const) {
        const err = await refusal(collect(reader, { kind: "http", urls: [`${server.base}${route}`] }));
        expect(err.code).toBe("address_refused");
        expect(err.message).toContain(host);
      }
      const loop = await refusal(collect(reader, { kind: "http", urls: [`${server.base}/redirect/loop`] }));
      expect(loop.code).toBe("too_many_redirects");
      expect(server.hits["/redirect/loop"]).toBe(6);
    });

    it("refuses a host when any one of its addresses is private", async () => {
      const resolve = async () => [
        { address: "93.184.216.34", family: 4 },
        { address: "::ffff:10.1.2.3", family: 6 },
      ];
      const err = await refusal(vetUrl("https://mixed.example/book.pdf", limits(), resolve));
      expect(err.message).toMatch(/mixed\.example.*10\.1\.2\.3/);
      // Public addresses pass, and the first is the one to connect to.
      const vetted = await vetUrl("https://public.example/book.pdf", limits(), async () => [{ address: "93.184.216.34", family: 4 }]);
      expect(vetted).toMatchObject({ host: "public.example", address: "93.184.216.34", family: 4 });
      // Private addresses pass when allowed, globally or for that host.
      await expect(vetUrl("http://10.0.0.1/", limits({ allowPrivateAddresses: true }))).resolves.toMatchObject({ address: "10.0.0.1" });
      await expect(vetUrl("http://[::1]:8080/", limits({ allowedHosts: ["[::1]"] }))).resolves.toMatchObject({ address: "::1", family: 6 });
    });

    it("refuses documentation, benchmarking and reserved ranges a name resolves to, before connecting", async () => {
      // Names resolve only through this resolver; each answer is a range the old guard let through.
      const cases: Array<[string, RegExp]> = [
        ["192.0.2.2", /documentation, TEST-NET-1/],
        ["198.51.100.7", /TEST-NET-2/],
        ["203.0.113.9", /TEST-NET-3/],
        ["198.18.0.1", /benchmarking/],
        ["240.0.0.1", /reserved/],
        ["255.255.255.255", /broadcast/],
        ["2001:db8::1", /documentation \(2001:db8::\/32\)/],
        ["::ffff:192.0.2.2", /documentation.*IPv4-mapped/],
        ["64:ff9b::c000:202", /documentation.*NAT64/],
        ["2002:c0a8:0101::1", /6to4.*192\.168\.1\.1/],
        ["2001:0:0a00:0001::1", /Teredo.*10\.0\.0\.1/],
        ["4000::1", /not global unicast/],
      ];
      for (const [address, range] of cases) {
        const reader = new HttpSourceReader(limits(), { tempDir, resolve: async () => [{ address, family: address.includes(":") ? 6 : 4 }] });
        const err = await refusal(collect(reader, { kind: "http", urls: ["https://docs.example/book.txt"] }));
        expect(err.code).toBe("address_refused");
        expect(err.message).toMatch(range);
        expect(err.message).toContain("JETQ_SOURCES_ALLOWED_HOSTS");
      }
    });

    it("refuses this machine's own addresses, by literal and by name", async () => {
      // This host's eth0 is public here (injected): only the own-address check stands between a
      // source and the API's /metrics. Refused before any connection, so nothing is contacted.
      const ownAddresses = () => [{ address: "93.184.216.34", name: "eth0" }];
      const reader = new HttpSourceReader(limits(), { tempDir, ownAddresses, resolve: async () => [{ address: "93.184.216.34", family: 4 }] });
      for (const url of ["http://93.184.216.34:8080/metrics", "http://[::ffff:93.184.216.34]:8080/metrics", "http://self.example:8080/metrics"]) {
        const err = await refusal(collect(reader, { kind: "http", urls: [url] }));
        expect(err.code).toBe("address_refused");
        expect(err.message).toMatch(/this machine's own address \(interface eth0\)/);
      }
      // The real interfaces (lo, and eth0 = 192.0.2.2 here): every address of this machine is refused.
      const real = new HttpSourceReader(limits(), { tempDir });
      for (const { address } of Object.values(networkInterfaces()).flatMap((list) => list ?? [])) {
        const host = address.includes(":") ? `[${address.replace(/%.*/, "")}]` : address;
        const err = await refusal(collect(real, { kind: "http", urls: [`http://${host}:8080/metrics`] }));
        expect(err.code).toBe("address_refused");
      }
    });

    it("refuses local-only names whatever they resolve to", async () => {
      const reader = new HttpSourceReader(limits(), { tempDir, resolve: async () => [{ address: "93.184.216.34", family: 4 }] });
      for (const host of ["metadata.google.internal", "printer.local", "app.localhost", "nas.home.arpa"]) {
        const err = await refusal(collect(reader, { kind: "http", urls: [`http://${host}/`] }));
        expect(err.code).toBe("address_refused");
        expect(err.message).toContain(host);
      }
    });

    it("fails a name that cannot be resolved with a retryable error, not a refusal", async () => {
      const notFound = Object.assign(new Error("getaddrinfo EAI_AGAIN books.example"), { code: "EAI_AGAIN" });
      const reader = new HttpSourceReader(limits(), { tempDir, resolve: async () => Promise.reject(notFound) });
      const err = await collect(reader, { kind: "http", urls: ["https://books.example/a.txt"] }).catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(NonRetryableError);
      expect(err).toMatchObject({ code: "dns_lookup_failed", message: expect.stringContaining("EAI_AGAIN") });
      const empty = new HttpSourceReader(limits(), { tempDir, resolve: async () => [] });
      const none = await collect(empty, { kind: "http", urls: ["https://books.example/a.txt"] }).catch((e: unknown) => e);
      expect(none).not.toBeInstanceOf(NonRetryableError);
      expect(none).toMatchObject({ code: "dns_lookup_failed" });
    });

    it("names the range of every kind of refused address", () => {
      expect(refusedRange("127.0.0.53")).toMatch(/loopback/);
      expect(refusedRange("172.31.255.255")).toMatch(/private/);
      expect(refusedRange("172.32.0.1")).toBeUndefined();
      expect(refusedRange("192.168.1.1")).toMatch(/private/);
      expect(refusedRange("100.127.255.255")).toMatch(/carrier-grade/);
      expect(refusedRange("100.128.0.1")).toBeUndefined();
      expect(refusedRange("224.0.0.251")).toMatch(/multicast/);
      expect(refusedRange("::")).toMatch(/unspecified/);
      expect(refusedRange("fe80::1%eth0")).toMatch(/link-local/);
      expect(refusedRange("ff02::1")).toMatch(/multicast/);
      expect(refusedRange("::ffff:7f00:1")).toMatch(/loopback.*IPv4-mapped/);
      expect(refusedRange("64:ff9b::a00:1")).toMatch(/private.*NAT64/);
      expect(refusedRange("2606:4700:4700::1111")).toBeUndefined();
      expect(refusedRange("8.8.8.8")).toBeUndefined();
    });
  });

  it("stops a download over the size limit and leaves no temp file behind", async () => {
    const reader = new HttpSourceReader(limits({ allowedHosts: ["127.0.0.1"], maxBytes: 4_000 }), { tempDir });
    for (const route of ["/big/streamed", "/big/declared"]) {
      const err = await refusal(collect(reader, { kind: "http", urls: [`${server.base}${route}`] }));
      expect(err.code).toBe("response_too_large");
    }
    expect(await readdir(tempDir)).toEqual([]);
  });

  it("gives up on a server that stops sending, with a retryable timeout", async () => {
    const reader = new HttpSourceReader(limits({ allowedHosts: ["127.0.0.1"], timeoutMs: 300 }), { tempDir });
    const started = Date.now();
    const err = await collect(reader, { kind: "http", urls: [`${server.base}/slow`] }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(NonRetryableError);
    expect(err).toMatchObject({ code: "fetch_timeout" });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await readdir(tempDir)).toEqual([]);
  });
});

describe("directory source reader", () => {
  let base: string;
  let root: string;
  let outside: string;
  let tempDir: string;
  let warnings: string[];
  let reader: DirectorySourceReader;

  beforeEach(async () => {
    base = await mkdtemp(path.join(tmpdir(), "jetq-dir-source-"));
    root = path.join(base, "root");
    outside = path.join(base, "outside");
    tempDir = path.join(base, "tmp");
    await mkdir(path.join(root, "library", "sub"), { recursive: true });
    await mkdir(outside);
    await mkdir(tempDir);
    await writeFile(path.join(root, "library", "a.txt"), "alpha");
    await writeFile(path.join(root, "library", "sub", "b.md"), "# beta");
    await writeFile(path.join(root, "library", "image.png"), "not a document");
    await writeFile(path.join(outside, "secret.txt"), "secret");
    warnings = [];
    reader = new DirectorySourceReader(limits({ directoryRoot: root }), { tempDir, warn: (m) => warnings.push(m) });
    return () => rm(base, { recursive: true, force: true });
  });

  it("reports new, unchanged, changed and deleted files, each handed over as a copy", async () => {
    const spec: SourceSpec = { kind: "directory", path: "library" };
    const first = await collect(reader, spec);
    expect(states(first)).toEqual({ "a.txt": "new", "sub/b.md": "new" });
    const a = first.find((c) => c.key === "a.txt")!;
    if (a.state !== "new") throw new Error("expected new");
    expect(a).toMatchObject({ filename: "a.txt", hash: sha256("alpha"), size: 5, contentType: "text/plain" });
    expect(path.dirname(a.filePath)).toBe(tempDir);
    // Later edits to the original do not reach the copy being processed.
    await writeFile(path.join(root, "library", "a.txt"), "alpha, edited");
    expect(await readFile(a.filePath, "utf8")).toBe("alpha");
    await removeTempFiles(first);
    let known = remember({}, first);

    await unlink(path.join(root, "library", "sub", "b.md"));
    await writeFile(path.join(root, "library", "sub", "c.html"), "<p>gamma</p>");
    const second = await collect(reader, spec, known);
    expect(states(second)).toEqual({ "a.txt": "changed", "sub/c.html": "new", "sub/b.md": "deleted" });
    await removeTempFiles(second);
    known = remember(known, second);

    expect(states(await collect(reader, spec, known))).toEqual({ "a.txt": "unchanged", "sub/c.html": "unchanged" });
    expect(await readdir(tempDir)).toEqual([]);
  });

  it("follows symlinks that stay inside the root and skips, with a warning, those that leave it", async () => {
    await symlink(path.join(outside, "secret.txt"), path.join(root, "library", "escape.txt"));
    await symlink(outside, path.join(root, "library", "outside-dir"));
    await symlink(path.join(root, "library", "a.txt"), path.join(root, "library", "alias.txt"));
    const checks = await collect(reader, { kind: "directory", path: "library" });
    expect(states(checks)).toEqual({ "a.txt": "new", "alias.txt": "new", "sub/b.md": "new" });
    expect(warnings.join("\n")).toMatch(/escape\.txt.*outside/);
    expect(warnings.join("\n")).toMatch(/outside-dir.*outside/);
    await removeTempFiles(checks);
  });

  it("refuses directories outside the root, however the path gets there", async () => {
    await symlink(outside, path.join(root, "linked-outside"));
    for (const p of ["library/../../outside", outside, "/", "linked-outside", "../root-sibling"]) {
      const err = await refusal(collect(reader, { kind: "directory", path: p }));
      expect(err.code).toBe("directory_not_allowed");
    }
  });

  it("refuses every directory when no root is configured", async () => {
    const closed = new DirectorySourceReader(limits({ directoryRoot: "" }), { tempDir });
    const err = await refusal(collect(closed, { kind: "directory", path: root }));
    expect(err.code).toBe("directory_not_allowed");
  });

  it("is the reader picked for a directory source", async () => {
    expect(readerFor({ kind: "directory", path: "x" }, limits())).toBeInstanceOf(DirectorySourceReader);
    expect(readerFor({ kind: "http", urls: [] }, limits())).toBeInstanceOf(HttpSourceReader);
  });
});
