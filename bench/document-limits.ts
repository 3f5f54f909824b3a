// Peak memory of a real worker process while it processes the largest documents the default
// document limits allow (library/document-limits.ts):
//
//   epub  as many chapters as JETQ_DOC_MAX_INFLATED_BYTES holds, each just under
//         JETQ_DOC_MAX_PART_BYTES, of markup-heavy XHTML (a DOM node per word, the costliest kind
//         for html-to-text) with text just under JETQ_DOC_MAX_CHARACTERS in all, compressing
//         well under JETQ_DOC_MAX_COMPRESSION_RATIO.
//   pdf   JETQ_DOC_MAX_PAGES pages of dense prose, just under JETQ_DOC_MAX_CHARACTERS in all.
//
// Each goes through process_book in bench/pipeline-worker.ts (concurrency 1, serving only
// process_book, so the chained embeddings do not run); peak RSS is the kernel's VmHWM of that
// process, reset before each book. Run from the repository root:
//
//   npx tsx bench/document-limits.ts [--only epub,pdf] [--scale 0.1]
//
// --scale shrinks both documents (pages, chapters' sizes) for a quick look; 1 is the real limit.
import { spawn } from "node:child_process";
import { createReadStream, createWriteStream, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import JSZip from "jszip";
import PDFDocument from "pdfkit";
import { storeUpload } from "../library/books.js";
import { loadConfig } from "../kit/config.js";
import { connectLibrary } from "../library/connection.js";
import { DEFAULT_DOCUMENT_LIMITS, DEFAULT_PARSER_HEAP_MB } from "../library/document-limits.js";
import { taskQueueFor } from "../kernel/task-queue-for.js";
import type { TaskRecord } from "../kernel/task.js";
import { documentTaskTypes } from "../library/task-types.js";
import { proseForPage } from "../kit/document-fixtures.js";
import { startNatsServer } from "../kit/nats-server.js";

const { values: args } = parseArgs({ options: { only: { type: "string", default: "epub,pdf" }, scale: { type: "string", default: "1" } } });
const only = new Set(args.only!.split(","));
const scale = Number(args.scale);
const limits = DEFAULT_DOCUMENT_LIMITS;
const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** VmRSS (now) or VmHWM (peak since the last reset) of a process, in bytes. */
function rss(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

// --- the documents -----------------------------------------------------------------

/** Random words, each in its own elements with random attributes: much markup, little text, poor compression. */
function markupChapter(targetBytes: number, targetCharacters: number, seed: number): { xhtml: string; characters: number } {
  let state = seed >>> 0;
  const random = () => ((state = (state * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const words = proseForPage(seed, 4_000).split(/\s+/);
  const head = `<?xml version="1.0" encoding="UTF-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Chapter ${seed}</title></head><body><h1>Chapter ${seed}</h1>\n`;
  const tail = "</p></body></html>";
  const pieces: string[] = [head, "<p>"];
  let bytes = head.length + tail.length + 3;
  let characters = 0;
  // Markup per word (about 7 characters with its space, 45 bytes of tags), so bytes and characters reach their targets together.
  const padding = Math.max(0, Math.floor((targetBytes / targetCharacters) * 7) - 45);
  for (let i = 0; bytes < targetBytes - 400 && characters < targetCharacters - 40; i++) {
    const word = words[i % words.length]!;
    const filler = Array.from({ length: Math.ceil(padding / 7) }, () => Math.floor(random() * 1e7).toString(36)).join(" ").slice(0, padding);
    const piece = `<span class="k${Math.floor(random() * 1e6)}" title="${filler}"><b>${word}</b></span> ${i % 40 === 39 ? "</p>\n<p>" : ""}`;
    pieces.push(piece);
    bytes += piece.length;
    characters += word.length + 1;
  }
  pieces.push(tail);
  return { xhtml: pieces.join(""), characters };
}

async function largestEpub(path: string): Promise<{ bytes: number; chapters: number; inflated: number; characters: number }> {
  const partBytes = Math.floor(limits.maxPartBytes * scale) - 4096;
  const chapters = Math.floor((limits.maxInflatedBytes * scale - 64 * 1024) / partBytes);
  const charactersPerChapter = Math.floor((limits.maxCharacters * scale * 0.95) / chapters);
  const zip = new JSZip();
  zip.file("mimetype", "application/epub+zip", { compression: "STORE" });
  zip.file("META-INF/container.xml", `<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>`);
  const ids = Array.from({ length: chapters }, (_, i) => `ch${i + 1}`);
  zip.file(
    "OEBPS/content.opf",
    `<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>The Largest Allowed EPUB</dc:title></metadata>` +
      `<manifest>${ids.map((id) => `<item id="${id}" href="${id}.xhtml" media-type="application/xhtml+xml"/>`).join("")}</manifest><spine>${ids.map((id) => `<itemref idref="${id}"/>`).join("")}</spine></package>`,
  );
  let inflated = 0;
  let characters = 0;
  for (const [i, id] of ids.entries()) {
    const chapter = markupChapter(partBytes, charactersPerChapter, i + 1);
    inflated += Buffer.byteLength(chapter.xhtml);
    characters += chapter.characters;
    zip.file(`OEBPS/${id}.xhtml`, chapter.xhtml, { compression: "DEFLATE", compressionOptions: { level: 6 } });
  }
  await writeFile(path, await zip.generateAsync({ type: "nodebuffer" }));
  return { bytes: (await stat(path)).size, chapters, inflated, characters };
}

async function largestPdf(path: string): Promise<{ bytes: number; pages: number; characters: number }> {
  const pages = Math.floor(limits.maxPages * scale);
  const perPage = Math.floor((limits.maxCharacters * 0.95) / limits.maxPages);
  const doc = new PDFDocument({ autoFirstPage: false, info: { Title: "The Largest Allowed PDF", CreationDate: new Date("2024-01-01T00:00:00Z") } });
  const out = createWriteStream(path);
  const written = new Promise<void>((resolve, reject) => out.on("finish", resolve).on("error", reject));
  doc.pipe(out);
  let characters = 0;
  for (let page = 1; page <= pages; page++) {
    const text = proseForPage(page, perPage);
    characters += text.length;
    doc.addPage({ margin: 36 });
    // Small type, so one page's text stays on one page (pdfkit would otherwise add pages).
    doc.fontSize(6).text(text, { width: 540 });
  }
  doc.end();
  await written;
  return { bytes: (await stat(path)).size, pages, characters };
}

// --- the worker --------------------------------------------------------------------

async function startWorker(natsUrl: string, dataDir: string) {
  const script = fileURLToPath(new URL("./pipeline-worker.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    env: { ...process.env, NATS_URL: natsUrl, JETQ_DATA_DIR: dataDir, JETQ_CONCURRENCY: "1", JETQ_TASK_TYPES: "process_book", JETQ_DEFAULT_TIMEOUT_S: "3600", JETQ_WORKER_METRICS_PORT: "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  process.on("exit", () => child.kill("SIGKILL"));
  const ready = await new Promise<{ pid: number }>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the worker exited (${code}) before it was ready`)));
    createInterface({ input: child.stdout! }).on("line", (line) => line.startsWith("{") && resolve(JSON.parse(line)));
  });
  return { pid: ready.pid, stop: () => new Promise((resolve) => (child.once("exit", resolve), child.kill("SIGTERM"))) };
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), "jetq-bench-limits-"));
  const nats = await startNatsServer();
  const worker = await startWorker(nats.url, join(dir, "data"));
  const config = loadConfig({ NATS_URL: nats.url });
  const conn = await connectLibrary(nats.url, config.topology, { name: "bench-document-limits", consumersFor: { taskTypes: [] } });
  const queue = taskQueueFor(conn, documentTaskTypes(), { defaultTimeoutSeconds: 3600 });
  const results: Record<string, unknown>[] = [];
  try {
    const books: { name: string; type: string; make: (path: string) => Promise<object> }[] = [
      { name: "book.epub", type: "application/epub+zip", make: largestEpub },
      { name: "book.pdf", type: "application/pdf", make: largestPdf },
    ].filter((b) => only.has(b.name.split(".")[1]!));
    for (const book of books) {
      const path = join(dir, book.name);
      let t0 = performance.now();
      const made = await book.make(path);
      const generateMs = Math.round(performance.now() - t0);
      const bookId = crypto.randomUUID();
      await storeUpload(conn.uploads, { bookId, filename: book.name, contentType: book.type }, createReadStream(path));
      const idle = rss(worker.pid, "VmRSS");
      writeFileSync(`/proc/${worker.pid}/clear_refs`, "5"); // resets VmHWM to the current RSS
      t0 = performance.now();
      const { record: created } = await queue.create({ type: "process_book", payload: { bookId } });
      let record: TaskRecord | undefined;
      for (;;) {
        record = (await conn.state.get(created.id))?.record;
        if (record && ["succeeded", "failed", "cancelled"].includes(record.status)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const result = {
        document: book.name,
        ...made,
        generateMs,
        status: record.status,
        ...(record.error ? { error: record.error.message } : {}),
        result: record.result,
        processSeconds: Math.round(performance.now() - t0) / 1000,
        idleRssMiB: mib(idle),
        peakRssMiB: mib(rss(worker.pid, "VmHWM")),
      };
      results.push(result);
      console.log(JSON.stringify(result));
      await rm(path, { force: true });
    }
  } finally {
    await conn.close();
    await worker.stop();
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`\nlimits: ${JSON.stringify(limits)}, extraction thread heap ${DEFAULT_PARSER_HEAP_MB} MB, scale ${scale}`);
  for (const r of results) console.log(`${r.document}: ${r.status}, peak worker RSS ${r.peakRssMiB} MiB (idle ${r.idleRssMiB} MiB), processed in ${r.processSeconds} s`);
}

await main();
