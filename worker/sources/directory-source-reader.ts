// Checks a local directory source: every supported file under it, compared by content hash.
// Only directories under the configured sources root may be read, and symlinks that lead out of
// that root are skipped, never followed.
import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream, type Stats } from "node:fs";
import { readdir, realpath, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { NonRetryableError } from "../../kernel/errors.js";
import { directoryRefusal, isInside } from "../../library/source-safety.js";
import { contentTypeForExtension, isSupportedExtension } from "./file-names.js";
import type { DocumentCheck, KnownDocument, SourceLimits, SourceReader, SourceSpec } from "./source-reader.js";

export interface DirectorySourceReaderOptions {
  /** Where copies of new or changed files go before the caller moves them; the OS temp dir by default. */
  tempDir?: string;
  /** Told about files that were skipped (symlinks leading outside the root, unreadable folders, oversized files). */
  warn?: (message: string) => void;
}

interface FoundFile {
  /** Path relative to the source directory, with forward slashes. */
  key: string;
  realPath: string;
}

export class DirectorySourceReader implements SourceReader {
  private readonly tempDir: string;
  private readonly warn: (message: string) => void;

  constructor(
    private readonly limits: SourceLimits,
    options: DirectorySourceReaderOptions = {},
  ) {
    this.tempDir = options.tempDir ?? tmpdir();
    this.warn = options.warn ?? (() => {});
  }

  async *check(spec: SourceSpec, known: Record<string, KnownDocument>, signal?: AbortSignal): AsyncIterable<DocumentCheck> {
    if (spec.kind !== "directory") throw new NonRetryableError(`DirectorySourceReader cannot read a ${spec.kind} source`, "unsupported_source");
    const { root, dir } = await this.resolveSource(spec.path);
    const { files, unreadable } = await this.collect(root, dir, signal);

    const seen = new Set<string>();
    for (const file of files) {
      signal?.throwIfAborted();
      const result = await this.checkFile(file, known[file.key], signal);
      if (result === "vanished") continue;
      seen.add(file.key);
      if (result !== "skipped") yield result;
    }
    // A folder we could not read says nothing about whether its files are gone.
    const underUnreadable = (key: string) => unreadable.some((prefix) => prefix === "" || key.startsWith(`${prefix}/`));
    for (const key of Object.keys(known).sort()) {
      if (!seen.has(key) && !underUnreadable(key)) yield { key, state: "deleted" };
    }
  }

  /** The real paths of the sources root and of the source directory, which must lie inside it. */
  private async resolveSource(sourcePath: string): Promise<{ root: string; dir: string }> {
    // The lexical check the API makes at registration; then the real paths, which only this filesystem knows.
    const refusal = directoryRefusal(sourcePath, this.limits);
    if (refusal) throw new NonRetryableError(refusal.message, refusal.code);
    const configuredRoot = path.resolve(this.limits.directoryRoot);
    let root: string;
    try {
      root = await realpath(configuredRoot);
    } catch {
      throw new NonRetryableError(`the sources root ${configuredRoot} does not exist`, "directory_not_allowed");
    }
    // Relative source paths are taken relative to the root, not to the worker's working directory.
    const requested = path.resolve(configuredRoot, sourcePath);
    let dir: string;
    try {
      dir = await realpath(requested);
    } catch {
      if (!isInside(configuredRoot, requested)) throw outsideRoot(sourcePath);
      throw new NonRetryableError(`source directory ${sourcePath} does not exist`, "directory_not_found");
    }
    if (!isInside(root, dir)) throw outsideRoot(sourcePath);
    if (!(await stat(dir)).isDirectory()) throw new NonRetryableError(`source path ${sourcePath} is not a directory`, "directory_not_found");
    return { root, dir };
  }

  /** Every supported file under dir, sorted by key; folders that could not be listed are reported, not guessed at. */
  private async collect(root: string, dir: string, signal?: AbortSignal): Promise<{ files: FoundFile[]; unreadable: string[] }> {
    const files: FoundFile[] = [];
    const unreadable: string[] = [];
    const visited = new Set<string>([dir]);
    const pending = [{ dir, rel: "" }];
    while (pending.length > 0) {
      signal?.throwIfAborted();
      const { dir: current, rel: currentRel } = pending.pop()!;
      let entries;
      try {
        entries = await readdir(current, { withFileTypes: true });
      } catch (err) {
        this.warn(`skipping folder ${currentRel || "."}: ${(err as { code?: string }).code ?? String(err)}`);
        unreadable.push(currentRel);
        continue;
      }
      for (const entry of entries) {
        const rel = currentRel ? `${currentRel}/${entry.name}` : entry.name;
        const lexical = path.join(current, entry.name);
        if (entry.isSymbolicLink()) {
          let target: string;
          let info: Stats;
          try {
            target = await realpath(lexical);
            info = await stat(target);
          } catch {
            this.warn(`skipping ${rel}: broken symlink`);
            continue;
          }
          if (!isInside(root, target)) {
            this.warn(`skipping ${rel}: symlink leads outside the sources root`);
            continue;
          }
          if (info.isDirectory()) {
            if (!visited.has(target)) {
              visited.add(target);
              pending.push({ dir: target, rel });
            }
          } else if (info.isFile() && isSupportedExtension(path.extname(entry.name))) {
            files.push({ key: rel, realPath: target });
          }
        } else if (entry.isDirectory()) {
          if (!visited.has(lexical)) {
            visited.add(lexical);
            pending.push({ dir: lexical, rel });
          }
        } else if (entry.isFile() && isSupportedExtension(path.extname(entry.name))) {
          files.push({ key: rel, realPath: lexical });
        }
      }
    }
    files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { files, unreadable };
  }

  private async checkFile(file: FoundFile, known: KnownDocument | undefined, signal?: AbortSignal): Promise<DocumentCheck | "skipped" | "vanished"> {
    let info: Stats;
    try {
      info = await stat(file.realPath);
    } catch {
      return "vanished";
    }
    if (info.size > this.limits.maxBytes) {
      this.warn(`skipping ${file.key}: ${info.size} bytes is over the ${this.limits.maxBytes}-byte limit`);
      return "skipped";
    }
    try {
      // Hash first: most files are unchanged, and those need no copy.
      if (known && (await this.hashOf(file.realPath, undefined, signal)).hash === known.hash) return { key: file.key, state: "unchanged" };
      // Process a copy, so an edit made while the book is processed cannot race it; hash the copy itself.
      const ext = path.extname(file.key);
      const filePath = path.join(this.tempDir, `jetq-source-${randomUUID()}${ext}`);
      let copied: { hash: string; size: number };
      try {
        copied = await this.hashOf(file.realPath, filePath, signal);
      } catch (err) {
        await rm(filePath, { force: true });
        throw err;
      }
      if (known && copied.hash === known.hash) {
        await rm(filePath, { force: true });
        return { key: file.key, state: "unchanged" };
      }
      const contentType = contentTypeForExtension(ext);
      return {
        key: file.key,
        state: known ? "changed" : "new",
        filePath,
        filename: path.basename(file.key),
        hash: copied.hash,
        size: copied.size,
        lastModified: info.mtime.toUTCString(),
        ...(contentType ? { contentType } : {}),
      };
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return "vanished";
      throw err;
    }
  }

  /** Streams a file through sha256, optionally copying it; stops past the size limit. */
  private async hashOf(source: string, copyTo: string | undefined, signal?: AbortSignal): Promise<{ hash: string; size: number }> {
    const hash = createHash("sha256");
    const maxBytes = this.limits.maxBytes;
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) return done(new NonRetryableError(`${source} grew past the ${maxBytes}-byte limit while being read`, "file_too_large"));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const sink = copyTo ? createWriteStream(copyTo) : new Writable({ write: (_chunk, _enc, done) => done() });
    await pipeline(createReadStream(source), meter, sink, signal ? { signal } : {});
    return { hash: hash.digest("hex"), size };
  }
}

function outsideRoot(sourcePath: string): NonRetryableError {
  return new NonRetryableError(`source directory ${sourcePath} lies outside the sources root`, "directory_not_allowed");
}
