// A list-then-watch cache of one resource, like client-go's Reflector + Indexer.
//
// Built on the KubeConfig's TLS and auth (applyToHTTPSOptions) with node:https rather than on
// client-node 1.4's ListWatch, because that one stops for good after any watch error (it only
// calls its error callbacks), cannot ask for bookmarks, has no watchdog for a silently dead
// connection, and its stop()+start() races: the aborted request's late done-callback aborts the
// new one. Here the loop never ends until stop(): an error restarts the watch with backoff, 410
// Gone relists, and a watch that has been silent (no event, no bookmark) for watchdogMs is cut
// and restarted from the last resourceVersion.
import http from "node:http";
import https from "node:https";
import type { KubeConfig, KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "../../kernel/logger.js";
import { keyOf } from "./resources.js";

export type InformerEventType = "add" | "update" | "delete";

export interface Informer<T> {
  /** Resolves after the first list, when the cache is synced (or at once when stopped first). */
  start(): Promise<void>;
  stop(): void;
  list(): T[];
  get(name: string, namespace?: string): T | undefined;
  onChange(handler: (type: InformerEventType, obj: T) => void): void;
}

export interface InformerOptions<T extends KubernetesObject> {
  /** The collection path, e.g. "/apis/jetq.io/v1alpha1/processingtasks" or "/api/v1/namespaces/x/pods". */
  path: string;
  /** Lists the collection (the same one as path); its metadata.resourceVersion starts the watch. */
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  logger: Logger;
  /** Cut and restart a watch that delivered nothing (not even a bookmark) for this long. Default 5 min. */
  watchdogMs?: number;
  /** Delay after failed lists and watches: base doubling to max. Default 500 ms to 30 s. */
  backoff?: { baseMs: number; maxMs: number };
}

type WatchEnd = "closed" | "gone" | "silent" | "stopped";

interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: KubernetesObject & { code?: number; message?: string; reason?: string };
}

class StatusError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

export function createInformer<T extends KubernetesObject>(kc: KubeConfig, opts: InformerOptions<T>): Informer<T> {
  return new ListWatchInformer<T>(kc, opts);
}

class ListWatchInformer<T extends KubernetesObject> implements Informer<T> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: Array<(type: InformerEventType, obj: T) => void> = [];
  private readonly logger: Logger;
  private readonly watchdogMs: number;
  private readonly backoff: { baseMs: number; maxMs: number };
  private resourceVersion = "";
  private stopped = false;
  private started?: Promise<void>;
  private markSynced: () => void = () => {};
  /** Ends the current watch request or backoff sleep; set while one is in progress. */
  private interrupt?: () => void;

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: InformerOptions<T>,
  ) {
    this.logger = opts.logger.child({ informer: opts.path });
    this.watchdogMs = opts.watchdogMs ?? 5 * 60_000;
    this.backoff = opts.backoff ?? { baseMs: 500, maxMs: 30_000 };
  }

  start(): Promise<void> {
    if (this.started) return this.started;
    this.started = new Promise<void>((resolve) => (this.markSynced = resolve));
    void this.run();
    return this.started;
  }

  stop(): void {
    this.stopped = true;
    this.interrupt?.();
    this.markSynced();
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  onChange(handler: (type: InformerEventType, obj: T) => void): void {
    this.handlers.push(handler);
  }

  /** List when needed, then watch; forever, until stop(). */
  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const began = Date.now();
      let delivered = 0;
      try {
        if (!this.resourceVersion) {
          await this.relist();
          this.markSynced();
        }
        const before = this.eventsSeen;
        const end = await this.watchOnce();
        delivered = this.eventsSeen - before;
        if (end === "stopped") return;
        if (end === "gone") {
          this.logger.info("watch resourceVersion expired (410 Gone): relisting", { resourceVersion: this.resourceVersion });
          this.resourceVersion = "";
        } else if (end === "silent") {
          this.logger.warn("watch silent too long: restarting it", { watchdogMs: this.watchdogMs, resourceVersion: this.resourceVersion });
        }
        // A watch that ends at once with nothing to say must not turn into a hot loop.
        failures = delivered === 0 && Date.now() - began < 1000 ? failures + 1 : 0;
      } catch (err) {
        failures++;
        if (err instanceof StatusError && err.statusCode === 410) this.resourceVersion = "";
        this.logger.warn("list/watch failed: retrying", { failures, err: err instanceof Error ? err.message : String(err) });
      }
      if (failures > 0 && !this.stopped) await this.sleep(this.backoffMs(failures));
    }
  }

  private eventsSeen = 0;

  /** Replaces the cache with a fresh list, telling handlers what changed while nobody watched. */
  private async relist(): Promise<void> {
    const list = await withTimeout(this.opts.list(), this.watchdogMs, "list");
    const fresh = new Map<string, T>();
    for (const item of list.items ?? []) fresh.set(keyOf(item), item);
    for (const [key, old] of this.cache) {
      if (!fresh.has(key)) {
        this.cache.delete(key);
        this.emit("delete", old);
      }
    }
    for (const [key, obj] of fresh) this.upsert(key, obj);
    this.resourceVersion = list.metadata?.resourceVersion ?? "";
    if (!this.resourceVersion) throw new Error(`list of ${this.opts.path} returned no resourceVersion`);
  }

  private upsert(key: string, obj: T): void {
    const old = this.cache.get(key);
    this.cache.set(key, obj);
    if (!old) this.emit("add", obj);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit("update", obj);
  }

  private apply(event: WatchEvent): void {
    const obj = event.object as T;
    const key = keyOf(obj);
    if (event.type === "DELETED") {
      const had = this.cache.delete(key);
      if (had) this.emit("delete", obj);
    } else if (event.type === "ADDED" || event.type === "MODIFIED") {
      this.upsert(key, obj);
    }
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    this.eventsSeen++;
  }

  private emit(type: InformerEventType, obj: T): void {
    for (const handler of this.handlers) {
      try {
        handler(type, obj);
      } catch (err) {
        this.logger.error("informer handler threw", { type, key: keyOf(obj), err: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  /** One watch request from this.resourceVersion; resolves with why it ended, rejects on an error. */
  private async watchOnce(): Promise<WatchEnd> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    const url = new URL(cluster.server.replace(/\/+$/, "") + this.opts.path);
    url.searchParams.set("watch", "true");
    url.searchParams.set("resourceVersion", this.resourceVersion);
    url.searchParams.set("allowWatchBookmarks", "true");
    // As client-go: the server ends each watch after 5-10 min, so connections are renewed anyway.
    url.searchParams.set("timeoutSeconds", String(300 + Math.floor(Math.random() * 300)));
    if (this.opts.labelSelector) url.searchParams.set("labelSelector", this.opts.labelSelector);

    const reqOpts: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(reqOpts);
    if (this.stopped) return "stopped";
    const isHttps = url.protocol === "https:";
    const { agent, ...rest } = reqOpts;

    return new Promise<WatchEnd>((resolve, reject) => {
      let settled = false;
      let gone = false;
      let errorEvent: Error | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      const finish = (end: WatchEnd | Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        this.interrupt = undefined;
        req.destroy();
        if (end instanceof Error) reject(end);
        else resolve(end);
      };
      const armWatchdog = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => finish("silent"), this.watchdogMs);
      };

      const requestOptions: https.RequestOptions = { ...rest, method: "GET", headers: { ...rest.headers, Accept: "application/json" } };
      if (isHttps && agent) requestOptions.agent = agent;
      const req = (isHttps ? https : http).request(url, requestOptions, (res) => {
        armWatchdog();
        if (res.statusCode !== 200) {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (body += chunk.slice(0, 4096)));
          res.on("end", () => {
            if (res.statusCode === 410) return finish("gone");
            finish(new StatusError(`watch ${this.opts.path}: HTTP ${res.statusCode} ${statusMessage(body)}`, res.statusCode ?? 0));
          });
          res.on("error", (err) => finish(err));
          return;
        }
        let buffered = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          armWatchdog();
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf("\n")) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (!line) continue;
            let event: WatchEvent;
            try {
              event = JSON.parse(line) as WatchEvent;
            } catch {
              this.logger.warn("unparseable watch line skipped", { line: line.slice(0, 200) });
              continue;
            }
            if (event.type === "ERROR") {
              // The server says why it ends the watch; 410 (Expired/Gone) means relist.
              if (event.object?.code === 410) gone = true;
              else errorEvent = new StatusError(`watch ${this.opts.path}: ${event.object?.message ?? "error event"}`, event.object?.code ?? 0);
              continue;
            }
            this.apply(event);
          }
        });
        res.on("end", () => finish(gone ? "gone" : errorEvent ?? "closed"));
        res.on("error", (err) => finish(gone ? "gone" : err));
        res.on("close", () => finish(gone ? "gone" : errorEvent ?? new Error(`watch ${this.opts.path}: connection closed mid-stream`)));
      });
      req.on("socket", (socket) => socket.setKeepAlive?.(true, 30_000));
      req.on("error", (err) => finish(err));
      // Silent before the response headers too (a connection that never answers).
      armWatchdog();
      this.interrupt = () => finish("stopped");
      req.end();
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.interrupt = () => {
        this.interrupt = undefined;
        done();
      };
    });
  }

  private backoffMs(failures: number): number {
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** Math.min(failures - 1, 30));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }
}

function statusMessage(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: string };
    return status.message ?? body.slice(0, 200);
  } catch {
    return body.slice(0, 200);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
