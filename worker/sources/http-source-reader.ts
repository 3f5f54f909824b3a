// Checks HTTP(S) sources: conditional GETs (ETag / Last-Modified), a content hash when the server
// sends neither, redirects followed by hand so every hop passes the address guard, and the
// connection pinned to the address the guard vetted.
import { createHash, randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { NonRetryableError } from "../../kernel/errors.js";
import { interfaceAddresses, type OwnAddresses } from "../../library/source-safety.js";
import { systemResolver, vetUrl, type ResolveHost, type VettedUrl } from "./address-guard.js";
import { extensionForContentType, safeFilename } from "./file-names.js";
import { SourceFetchError } from "./source-errors.js";
import type { DocumentCheck, KnownDocument, SourceLimits, SourceReader, SourceSpec } from "./source-reader.js";

export { SourceFetchError } from "./source-errors.js";

const MAX_REDIRECTS = 5;

export interface HttpSourceReaderOptions {
  /** Where downloads are written before the caller moves them; the OS temp dir by default. */
  tempDir?: string;
  /** Name resolution for the address guard; tests swap it to simulate DNS answers. */
  resolve?: ResolveHost;
  /** This machine's addresses, refused as targets; tests swap them to simulate a host's own public address. */
  ownAddresses?: OwnAddresses;
  userAgent?: string;
}

export class HttpSourceReader implements SourceReader {
  private readonly tempDir: string;
  private readonly resolve: ResolveHost;
  private readonly ownAddresses: OwnAddresses;
  private readonly userAgent: string;

  constructor(
    private readonly limits: SourceLimits,
    options: HttpSourceReaderOptions = {},
  ) {
    this.tempDir = options.tempDir ?? tmpdir();
    this.resolve = options.resolve ?? systemResolver;
    this.ownAddresses = options.ownAddresses ?? interfaceAddresses;
    this.userAgent = options.userAgent ?? "jetq-source-sync/1";
  }

  async *check(spec: SourceSpec, known: Record<string, KnownDocument>, signal?: AbortSignal): AsyncIterable<DocumentCheck> {
    if (spec.kind !== "http") throw new NonRetryableError(`HttpSourceReader cannot read a ${spec.kind} source`, "unsupported_source");
    const urls = [...new Set(spec.urls)];
    // One URL failing must not hold back the others: report the rest, then throw for the failures.
    const failures: Array<{ url: string; error: Error }> = [];
    for (const url of urls) {
      signal?.throwIfAborted();
      let result: DocumentCheck;
      try {
        result = await this.checkUrl(url, known[url], signal);
      } catch (error) {
        if (signal?.aborted) throw error;
        failures.push({ url, error: error as Error });
        continue;
      }
      yield result;
    }
    for (const key of Object.keys(known)) {
      if (!urls.includes(key)) yield { key, state: "deleted" };
    }
    if (failures.length > 0) throw combinedFailure(failures, urls.length);
  }

  /** Fetches one URL (conditionally when it was seen before) and says what became of it. */
  async checkUrl(key: string, known: KnownDocument | undefined, outer?: AbortSignal): Promise<DocumentCheck> {
    const controller = new AbortController();
    const timeoutError = new SourceFetchError(`fetching ${key} took longer than ${this.limits.timeoutMs} ms`, "fetch_timeout");
    const timer = setTimeout(() => controller.abort(timeoutError), this.limits.timeoutMs);
    const onOuterAbort = () => controller.abort(outer!.reason);
    outer?.addEventListener("abort", onOuterAbort, { once: true });
    if (outer?.aborted) controller.abort(outer.reason);
    const signal = controller.signal;
    try {
      return await this.fetchFollowingRedirects(key, known, signal);
    } catch (err) {
      // Aborting surfaces as a generic AbortError; report why it was aborted instead.
      if (signal.aborted && signal.reason) throw signal.reason;
      throw err;
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onOuterAbort);
    }
  }

  private async fetchFollowingRedirects(key: string, known: KnownDocument | undefined, signal: AbortSignal): Promise<DocumentCheck> {
    const conditional: Record<string, string> = {};
    if (known?.etag) conditional["if-none-match"] = known.etag;
    if (known?.lastModified) conditional["if-modified-since"] = known.lastModified;

    let target = key;
    for (let hop = 0; ; hop++) {
      const vetted = await vetUrl(target, this.limits, this.resolve, this.ownAddresses);
      signal.throwIfAborted();
      const res = await this.get(vetted, conditional, signal);
      const status = res.statusCode ?? 0;

      if (status >= 300 && status < 400 && status !== 304) {
        res.resume();
        const location = res.headers.location;
        if (!location) throw new NonRetryableError(`${target} answered ${status} without a Location header`, "bad_redirect");
        if (hop >= MAX_REDIRECTS) throw new NonRetryableError(`${key} redirected more than ${MAX_REDIRECTS} times`, "too_many_redirects");
        target = new URL(location, vetted.url).href;
        continue;
      }
      if (status === 304) {
        res.resume();
        if (!known) throw new NonRetryableError(`${target} answered 304 to an unconditional request`, "unexpected_status");
        return { key, state: "unchanged" };
      }
      if (status === 404 || status === 410) {
        res.resume();
        return { key, state: "deleted" };
      }
      if (status !== 200) {
        res.resume();
        if (status >= 500 || status === 408 || status === 429) {
          throw new SourceFetchError(`${target} answered ${status}`, "fetch_failed");
        }
        throw new NonRetryableError(`${target} answered ${status}`, "fetch_rejected");
      }
      return await this.download(key, vetted.url, res, known, signal);
    }
  }

  private get(vetted: VettedUrl, headers: Record<string, string>, signal: AbortSignal): Promise<http.IncomingMessage> {
    const { url, host, address, family } = vetted;
    const isHttps = url.protocol === "https:";
    // Connect to the vetted address whatever DNS says now; Host and SNI stay the real host.
    const pinned: LookupFunction = (_hostname, options, callback) => {
      if ((options as { all?: boolean }).all) (callback as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address, family }]);
      else callback(null, address, family);
    };
    const options: https.RequestOptions = {
      method: "GET",
      protocol: url.protocol,
      hostname: host,
      port: url.port || (isHttps ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      headers: { "user-agent": this.userAgent, accept: "*/*", "accept-encoding": "identity", ...headers },
      lookup: pinned,
      agent: false,
      signal,
      ...(isHttps && !isIP(host) ? { servername: host } : {}),
    };
    return new Promise((resolve, reject) => {
      const req = (isHttps ? https : http).request(options, resolve);
      req.on("error", (err) => reject(connectionError(url, err)));
      req.end();
    });
  }

  private async download(key: string, url: URL, res: http.IncomingMessage, known: KnownDocument | undefined, signal: AbortSignal): Promise<DocumentCheck> {
    const maxBytes = this.limits.maxBytes;
    const tooLarge = () => new NonRetryableError(`${key} is larger than the ${maxBytes}-byte limit`, "response_too_large");
    const declared = Number(res.headers["content-length"]);
    if (Number.isFinite(declared) && declared > maxBytes) {
      res.destroy();
      throw tooLarge();
    }

    const contentType = header(res, "content-type");
    const filename = filenameFor(url, header(res, "content-disposition"), contentType);
    const filePath = path.join(this.tempDir, `jetq-source-${randomUUID()}${path.extname(filename)}`);
    const hash = createHash("sha256");
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) return done(tooLarge());
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(res, meter, createWriteStream(filePath), { signal });
    } catch (err) {
      await rm(filePath, { force: true });
      if (err instanceof NonRetryableError) throw err;
      if (signal.aborted) throw signal.reason;
      throw connectionError(url, err as Error);
    }

    const digest = hash.digest("hex");
    if (known && known.hash === digest) {
      await rm(filePath, { force: true });
      return { key, state: "unchanged" };
    }
    const etag = header(res, "etag");
    const lastModified = header(res, "last-modified");
    return {
      key,
      state: known ? "changed" : "new",
      filePath,
      filename,
      hash: digest,
      size,
      ...(contentType ? { contentType } : {}),
      ...(etag ? { etag } : {}),
      ...(lastModified ? { lastModified } : {}),
    };
  }
}

/** The one failure as it is, or several as one error: retryable unless every one of them is not. */
function combinedFailure(failures: Array<{ url: string; error: Error }>, total: number): Error {
  if (failures.length === 1) return failures[0]!.error;
  const first = failures[0]!.error as Error & { code?: string };
  const message = `${failures.length} of ${total} URLs could not be checked; first: ${first.message}`;
  const code = first.code ?? "fetch_failed";
  return failures.every((f) => f.error instanceof NonRetryableError) ? new NonRetryableError(message, code) : new SourceFetchError(message, code);
}

function header(res: http.IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function connectionError(url: URL, err: Error): Error {
  if (err instanceof NonRetryableError || err instanceof SourceFetchError || err.name === "AbortError") return err;
  const code = (err as { code?: string }).code;
  return new SourceFetchError(`fetching ${url.href} failed: ${code ?? err.message}`, "fetch_failed");
}

/** Content-Disposition's filename, else the URL path's last segment, else "document" plus an extension. */
function filenameFor(url: URL, disposition: string | undefined, contentType: string | undefined): string {
  const fromHeader = disposition?.match(/filename\*?=(?:UTF-8'')?"?([^";]+)"?/i)?.[1];
  const segment = url.pathname.split("/").filter(Boolean).pop();
  let name = safeFilename(decodeSafely(fromHeader ?? segment ?? "")) || "document";
  if (!path.extname(name)) name += extensionForContentType(contentType) ?? "";
  return name;
}

function decodeSafely(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
