import { spawnSync } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_DOCUMENT_LIMITS } from "../../library/config.js";
import { loadConfig } from "../../kit/config.js";
import { chunkDocument } from "../../worker/documents/chunker.js";
import { detectFormat, parserFor } from "../../worker/documents/detect-format.js";
import type { Chunk, DocumentPart } from "../../worker/documents/document.js";
import { htmlToText } from "../../worker/documents/html-text.js";
import { normaliseText } from "../../worker/documents/normalise.js";
import { readDocument, type DocumentSource } from "../../worker/documents/read-document.js";
import { extractDocument } from "../../worker/documents/extract-document.js";
import { makeBookDir, sweepStaleBookDirs } from "../../worker/documents/temp-dirs.js";
import {
  nestedXObjectPdf,
  bigPdf,
  deeplyNestedHtml,
  makeDocx,
  makeEpub,
  makeEpubWithEntries,
  makePdf,
  makeRepeatedPagePdf,
  makeTempDir,
  makeZipBombEpub,
  proseForPage,
  writeGarbage,
  writePngHeader,
} from "../../kit/document-fixtures.js";

let dir: string;
let cleanup: () => Promise<void>;
const path = (name: string) => join(dir, name);

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir());
});
afterAll(async () => {
  await cleanup();
});

async function readAllChunks(file: string, source: DocumentSource = {}, chunkSize = 400, chunkOverlap = 80): Promise<Chunk[]> {
  const reading = await readDocument(file, source, { chunkSize, chunkOverlap });
  const chunks: Chunk[] = [];
  for await (const chunk of reading.chunks) chunks.push(chunk);
  return chunks;
}

async function partsOf(file: string, format: Parameters<typeof parserFor>[0]) {
  const { info, parts } = await parserFor(format).parse(file, { limits: DEFAULT_DOCUMENT_LIMITS });
  const list: DocumentPart[] = [];
  for await (const part of parts) list.push(part);
  return { info, parts: list };
}

async function* partsFrom(parts: DocumentPart[]): AsyncIterable<DocumentPart> {
  yield* parts;
}

async function chunksOf(parts: DocumentPart[], chunkSize: number, chunkOverlap: number): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  for await (const chunk of chunkDocument(partsFrom(parts), { chunkSize, chunkOverlap })) chunks.push(chunk);
  return chunks;
}

/** The longest end of `a` that `b` starts with. */
function overlapLength(a: string, b: string): number {
  for (let n = Math.min(a.length, b.length); n > 0; n--) if (b.startsWith(a.slice(a.length - n))) return n;
  return 0;
}

const collapse = (text: string) => text.replace(/\s+/g, " ").trim();
const documentError = (code: string) => ({ name: "NonRetryableError", code });

describe("PDF", () => {
  const pages = [
    "The first page introduces the course. Students read it before anything else.",
    "The second page explains retrieval. Vectors are compared by cosine similarity.",
    "The third page holds the phrase purple elephant syllabus, found nowhere else in this book.",
    "The fourth page closes the chapter with a summary of what was learnt.",
  ];

  beforeAll(async () => {
    await makePdf(path("course.pdf"), pages, { title: "Course Notes" });
  });

  it("yields one part per page with 1-based page numbers, the page's text and the title", async () => {
    const { info, parts } = await partsOf(path("course.pdf"), "pdf");
    expect(info).toEqual({ format: "pdf", title: "Course Notes", totalParts: 4 });
    expect(parts.map((p) => p.page)).toEqual([1, 2, 3, 4]);
    parts.forEach((part, i) => expect(normaliseText(part.text)).toBe(pages[i]));
  });

  it("cites page 3 for a phrase that only page 3 holds", async () => {
    const chunks = await readAllChunks(path("course.pdf"), { filename: "course.pdf" }, 120, 30);
    const holding = chunks.filter((c) => c.text.includes("purple elephant syllabus"));
    expect(holding.length).toBeGreaterThan(0);
    expect(holding.some((c) => c.page === 3)).toBe(true);
    expect(holding.every((c) => c.page <= 3)).toBe(true);
  });

  it("fails with empty_document when no page has text (a scan without OCR)", async () => {
    await makePdf(path("scan.pdf"), ["", "", ""]);
    await expect(readAllChunks(path("scan.pdf"))).rejects.toMatchObject(documentError("empty_document"));
  });

  it("fails with corrupt_document for bytes that are not a PDF, or a PDF cut short", async () => {
    await writeGarbage(path("garbage.pdf"));
    await expect(readAllChunks(path("garbage.pdf"))).rejects.toMatchObject(documentError("corrupt_document"));
    const whole = await readFile(path("course.pdf"));
    await writeFile(path("truncated.pdf"), whole.subarray(0, whole.length / 2));
    await expect(readAllChunks(path("truncated.pdf"))).rejects.toMatchObject(documentError("corrupt_document"));
  });

  it("fails with encrypted_document for a password-protected PDF", async () => {
    await makePdf(path("locked.pdf"), ["Secret text."], { password: "hunter2" });
    await expect(readAllChunks(path("locked.pdf"))).rejects.toMatchObject(documentError("encrypted_document"));
  });
});

describe("chunking", () => {
  beforeAll(async () => {
    await bigPdf(path("twelve.pdf"), 12);
  });

  it("keeps every chunk within chunkSize and overlaps consecutive chunks of a page by at most chunkOverlap", async () => {
    const chunks = await readAllChunks(path("twelve.pdf"), {}, 500, 100);
    expect(chunks.length).toBeGreaterThan(30);
    for (const chunk of chunks) expect(chunk.text.length).toBeLessThanOrEqual(500);
    const samePage = chunks.slice(1).flatMap((chunk, i) => (chunk.page === chunks[i].page ? [[chunks[i], chunk] as const] : []));
    expect(samePage.length).toBeGreaterThan(10);
    const overlaps = samePage.map(([a, b]) => overlapLength(a.text, b.text));
    for (const overlap of overlaps) {
      expect(overlap).toBeGreaterThan(0);
      expect(overlap).toBeLessThanOrEqual(100);
    }
    // Whole sentences where they fit: the next chunk usually starts at a sentence start.
    expect(chunks.filter((c) => /^[A-Z]/.test(c.text)).length).toBeGreaterThan(chunks.length / 2);
  });

  it("numbers chunks c000000, c000001… and dates each one to the page it starts on", async () => {
    const chunks = await readAllChunks(path("twelve.pdf"), {}, 500, 100);
    chunks.forEach((chunk, i) => {
      expect(chunk.index).toBe(i);
      expect(chunk.chunkId).toBe(`c${String(i).padStart(6, "0")}`);
    });
    // The prose is known, so each chunk's first sentence can be looked up on the pages that hold it.
    const prose = Array.from({ length: 12 }, (_, i) => collapse(proseForPage(i + 1)));
    for (const chunk of chunks) {
      const firstSentence = chunk.text.split(/(?<=\.)\s/)[0];
      const holders = prose.flatMap((text, i) => (text.includes(firstSentence) ? [i + 1] : []));
      expect(holders).toContain(chunk.page);
    }
    const pages = chunks.map((c) => c.page);
    expect(pages).toEqual([...pages].sort((a, b) => a - b));
  });

  it("gives identical chunks for the same input and parameters", async () => {
    const first = await readAllChunks(path("twelve.pdf"), {}, 300, 60);
    const second = await readAllChunks(path("twelve.pdf"), {}, 300, 60);
    expect(second).toEqual(first);
  });

  it("splits a giant sentence at words and a giant word by characters, skipping empty parts", async () => {
    const sentence = Array.from({ length: 60 }, (_, i) => `word${i}`).join(" ");
    const chunks = await chunksOf(
      [
        { page: 1, text: "   " },
        { page: 2, text: sentence },
        { page: 3, text: "x".repeat(130) },
      ],
      50,
      10,
    );
    expect(chunks[0].page).toBe(2);
    for (const chunk of chunks) expect(chunk.text.length).toBeLessThanOrEqual(50);
    expect(chunks.filter((c) => c.page === 2).map((c) => c.text).join(" ")).toContain("word0 word1");
    expect(chunks.some((c) => c.page === 3 && /^x+$/.test(c.text))).toBe(true);
  });

  it("never lets a chunk cross a page, so its page holds all of its text", async () => {
    const chunks = await readAllChunks(path("twelve.pdf"), {}, 500, 100);
    const prose = Array.from({ length: 12 }, (_, i) => collapse(proseForPage(i + 1)));
    for (const chunk of chunks) expect(prose[chunk.page - 1]).toContain(collapse(chunk.text));
  });

  it("starts a new chunk at each section, carrying its section", async () => {
    const chunks = await chunksOf(
      [
        { page: 1, section: "Intro", text: "One short sentence." },
        { page: 2, section: "Method", text: "Another sentence here. And a third one." },
      ],
      1000,
      0,
    );
    expect(chunks).toEqual([
      { chunkId: "c000000", index: 0, page: 1, section: "Intro", text: "One short sentence." },
      { chunkId: "c000001", index: 1, page: 2, section: "Method", text: "Another sentence here. And a third one." },
    ]);
  });

  it("rejects an overlap as large as the chunk", async () => {
    await expect(chunksOf([{ page: 1, text: "Hi." }], 100, 100)).rejects.toMatchObject(documentError("invalid_chunking"));
  });
});

describe("text, Markdown, HTML and EPUB", () => {
  it("splits plain text at form feeds into pages", async () => {
    await writeFile(path("paged.txt"), "Page one text.\fPage two text.\n\fPage three text.\n");
    const { info, parts } = await partsOf(path("paged.txt"), "text");
    expect(info.totalParts).toBe(3);
    expect(parts.map((p) => [p.page, p.text.trim()])).toEqual([
      [1, "Page one text."],
      [2, "Page two text."],
      [3, "Page three text."],
    ]);
  });

  it("splits unpaged plain text into blocks of about 50 lines at paragraph breaks", async () => {
    const paragraphs = Array.from({ length: 40 }, (_, i) => `Line A of paragraph ${i}.\nLine B of paragraph ${i}.\n`);
    await writeFile(path("long.txt"), paragraphs.join("\n"));
    const { parts } = await partsOf(path("long.txt"), "text");
    expect(parts.length).toBe(3);
    expect(parts.map((p) => p.page)).toEqual([1, 2, 3]);
    for (const part of parts.slice(0, -1)) expect(part.text.split("\n").length).toBeGreaterThanOrEqual(50);
    expect(parts.map((p) => p.text).join("\n")).toContain("Line B of paragraph 39.");
  });

  it("splits Markdown at headings and drops the markup", async () => {
    await writeFile(
      path("notes.md"),
      "Preface with *emphasis*.\n\n# Getting Started\n\nInstall **jetq** with `npm`, see [the docs](http://x).\n\n- one\n- two\n\n## Next Steps\n\n> Quoted advice.\n",
    );
    const { info, parts } = await partsOf(path("notes.md"), "markdown");
    expect(info).toMatchObject({ format: "markdown", title: "Getting Started", totalParts: 3 });
    expect(parts.map((p) => p.section)).toEqual([undefined, "Getting Started", "Next Steps"]);
    expect(normaliseText(parts[0].text)).toBe("Preface with emphasis.");
    expect(normaliseText(parts[1].text)).toBe("Getting Started\n\nInstall jetq with npm, see the docs.\n\none two");
    expect(normaliseText(parts[2].text)).toBe("Next Steps\n\nQuoted advice.");
  });

  it("splits HTML at h1/h2, names sections by their heading and takes the <title>", async () => {
    await writeFile(
      path("page.html"),
      `<html><head><title>Study &amp; Practice</title><style>p { color: red }</style></head><body>
       <p>Before any heading.</p><h1>Part <em>One</em></h1><p>First <a href="/x">body</a>.</p><img src="a.png" alt="x">
       <h2>Part Two</h2><table><tr><td>cell a</td><td>cell b</td></tr></table><h3>Detail</h3><p>Tail.</p><script>var x = 1;</script></body></html>`,
    );
    const { info, parts } = await partsOf(path("page.html"), "html");
    expect(info).toEqual({ format: "html", title: "Study & Practice", totalParts: 3 });
    expect(parts.map((p) => p.section)).toEqual([undefined, "Part One", "Part Two"]);
    expect(normaliseText(parts[1].text)).toBe("Part One\n\nFirst body.");
    expect(normaliseText(parts[2].text)).toBe("Part Two\n\ncell a cell b\n\nDetail\n\nTail.");
  });

  it("reads an EPUB chapter by chapter with the table of contents' titles", async () => {
    await makeEpub(
      path("book.epub"),
      [
        { title: "Chapter One", html: "<h1>Chapter One</h1><p>It begins &amp; goes on.</p>" },
        { title: "Chapter Two", html: "<p>The middle.</p><p>More middle.</p>" },
      ],
      "A Small Book",
    );
    const { info, parts } = await partsOf(path("book.epub"), "epub");
    expect(info).toEqual({ format: "epub", title: "A Small Book", totalParts: 2 });
    expect(parts.map((p) => [p.page, p.section, normaliseText(p.text)])).toEqual([
      [1, "Chapter One", "Chapter One\n\nIt begins & goes on."],
      [2, "Chapter Two", "The middle.\n\nMore middle."],
    ]);
    const chunks = await readAllChunks(path("book.epub"), { filename: "book.epub", contentType: "application/epub+zip" });
    expect(chunks[0]).toMatchObject({ page: 1, section: "Chapter One" });
  });

  it("fails with corrupt_document for an .epub that is not one, and empty_document for an empty text file", async () => {
    await writeGarbage(path("broken.epub"));
    await expect(readAllChunks(path("broken.epub"))).rejects.toMatchObject(documentError("corrupt_document"));
    await writeFile(path("empty.txt"), "\n\n   \n");
    await expect(readAllChunks(path("empty.txt"))).rejects.toMatchObject(documentError("empty_document"));
  });
});

describe("format detection", () => {
  const head = (text: string) => Buffer.from(text);

  it("trusts magic bytes over the name", () => {
    expect(detectFormat({ filename: "upload.bin", head: head("%PDF-1.7\n...") })).toBe("pdf");
    expect(detectFormat({ filename: "notes.txt", contentType: "text/plain", head: head("%PDF-1.4") })).toBe("pdf");
  });

  it("then the content type, then the extension; text/plain yields to a more specific extension", () => {
    expect(detectFormat({ filename: "x", contentType: "text/html; charset=utf-8", head: head("<p>hi") })).toBe("html");
    expect(detectFormat({ filename: "readme.md", contentType: "text/plain", head: head("# Hi") })).toBe("markdown");
    expect(detectFormat({ filename: "page.HTM", contentType: "application/octet-stream", head: head("<p>") })).toBe("html");
    expect(detectFormat({ filename: "a.markdown", head: head("text") })).toBe("markdown");
    expect(detectFormat({ filename: "a.txt", head: head("text") })).toBe("text");
  });

  it("fails with unsupported_format naming what it received", async () => {
    await writePngHeader(path("scan.pdf"));
    await expect(readAllChunks(path("scan.pdf"))).rejects.toMatchObject({ code: "unsupported_format", message: expect.stringContaining("PNG") });
    await makeDocx(path("essay.docx"));
    await expect(readAllChunks(path("essay.docx"))).rejects.toMatchObject({ code: "unsupported_format", message: expect.stringContaining("essay.docx") });
    expect(() => detectFormat({ filename: "data.csv", contentType: "text/csv", head: head("a,b") })).toThrow(
      expect.objectContaining({ code: "unsupported_format", message: expect.stringContaining("text/csv") }),
    );
  });

  it("calls binary bytes behind a text name corrupt", () => {
    expect(() => detectFormat({ filename: "notes.txt", head: Buffer.from([0x41, 0x00, 0x42]) })).toThrow(
      expect.objectContaining({ code: "corrupt_document" }),
    );
  });
});

describe("normalisation", () => {
  it("joins words hyphenated across lines", () => {
    expect(normaliseText("an exam-\nple of hyphen-\n  ation")).toBe("an example of hyphenation");
    expect(normaliseText("well-known\nNew-\nYork")).toBe("well-known New- York");
  });

  it("collapses whitespace but keeps paragraph breaks", () => {
    expect(normaliseText("  one\ttwo   three\nfour\n\n\n  five\r\n \r\nsix  ")).toBe("one two three four\n\nfive\n\nsix");
    expect(normaliseText("page one\fpage two")).toBe("page one\n\npage two");
  });

  it("composes to NFC and strips control and invisible characters", () => {
    expect(normaliseText("cafe\u0301")).toBe("caf\u00e9");
    expect(normaliseText("\uFEFFbell\u0007 zero\u200Bwidth soft\u00ADhyphen")).toBe("bell zerowidth softhyphen");
  });
});

describe("cancellation", () => {
  it("stops reading when the signal aborts", async () => {
    await bigPdf(path("sixty.pdf"), 60);
    const controller = new AbortController();
    let partsRead = 0;
    const reading = await readDocument(path("sixty.pdf"), {}, { chunkSize: 500, chunkOverlap: 50, signal: controller.signal, onPart: (n) => (partsRead = n) });
    const consume = async () => {
      for await (const _chunk of reading.chunks) controller.abort();
    };
    await expect(consume()).rejects.toMatchObject({ name: "AbortError" });
    expect(partsRead).toBeLessThan(60);
  });
});

describe("a 1,000-page PDF", () => {
  it(
    "streams through readDocument: chunks arrive before the last page is read and the heap stays bounded",
    async () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      await makePdf(path("warm-up.pdf"), ["Loads pdf.js once so its one-time cost is not counted."]);
      await readAllChunks(path("warm-up.pdf"));
      let started = Date.now();
      await bigPdf(path("thousand.pdf"), 1000);
      const generatedMs = Date.now() - started;

      gc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      let retainedPeak = 0;
      let partsRead = 0;
      let partsReadAtFirstChunk: number | undefined;
      let total: number | undefined;
      started = Date.now();
      const reading = await readDocument(path("thousand.pdf"), { filename: "thousand.pdf" }, {
        chunkSize: 1000,
        chunkOverlap: 150,
        onPart: (partNo, totalParts) => {
          partsRead = partNo;
          total = totalParts;
        },
      });
      let lastChunk: Chunk | undefined;
      for await (const chunk of reading.chunks) {
        partsReadAtFirstChunk ??= partsRead;
        // With gc exposed (node --expose-gc), sample what stays reachable while streaming.
        if (gc && chunk.index % 300 === 0) {
          gc();
          retainedPeak = Math.max(retainedPeak, process.memoryUsage().heapUsed - heapBefore);
        }
        lastChunk = chunk;
      }
      const parsedMs = Date.now() - started;
      const stats = reading.stats();

      expect(total).toBe(1000);
      expect(partsReadAtFirstChunk).toBeLessThan(total!);
      expect(stats.parts).toBe(1000);
      expect(lastChunk?.page).toBe(1000);
      expect(collapse(lastChunk!.text)).toContain(collapse(proseForPage(1000)).slice(-40));
      if (gc) expect(retainedPeak).toBeLessThan(40 * 1024 * 1024);
      console.log(
        `1,000-page PDF: generated in ${generatedMs} ms, read in ${parsedMs} ms (${Math.round(1000 / (parsedMs / 1000))} pages/s), ` +
          `${stats.chunks} chunks, ${stats.characters} characters, first chunk after ${partsReadAtFirstChunk} pages` +
          (gc ? `, retained heap peak ${(retainedPeak / 1e6).toFixed(1)} MB` : ""),
      );
    },
    60_000,
  );
});

/** What a document over a limit fails with: non-retryable, naming the setting to change. */
const overLimit = (setting: string) => ({ name: "NonRetryableError", code: "document_limit_exceeded", message: expect.stringContaining(setting) });
const limits = (over: Partial<typeof DEFAULT_DOCUMENT_LIMITS>) => ({ ...DEFAULT_DOCUMENT_LIMITS, ...over });

async function readWithLimits(file: string, over: Partial<typeof DEFAULT_DOCUMENT_LIMITS> = {}, chunkSize = 400) {
  const reading = await readDocument(file, {}, { chunkSize, chunkOverlap: 40, limits: limits(over) });
  const chunks: Chunk[] = [];
  for await (const chunk of reading.chunks) chunks.push(chunk);
  return { chunks };
}

describe("document limits", () => {
  it("refuses a PDF whose page tree names one page 1,000,000 times before reading a page", async () => {
    const pages = await makeRepeatedPagePdf(path("million.pdf"));
    expect(pages).toBe(1_000_000);
    expect((await readFile(path("million.pdf"))).length).toBeLessThan(15_000);
    let partsRead = 0;
    const started = Date.now();
    const reading = readDocument(path("million.pdf"), {}, { chunkSize: 400, chunkOverlap: 40, onPart: (n) => (partsRead = n) });
    await expect(reading).rejects.toMatchObject({ ...overLimit("JETQ_DOC_MAX_PAGES"), message: expect.stringContaining("1,000,000 pages") });
    expect(partsRead).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("refuses a document with more pages than allowed even when the count is only known while reading", async () => {
    await writeFile(path("blocks.txt"), Array.from({ length: 400 }, (_, i) => `Line ${i} of a long text.`).join("\n\n"));
    await expect(readWithLimits(path("blocks.txt"), { maxPages: 2 })).rejects.toMatchObject(overLimit("JETQ_DOC_MAX_PAGES"));
  });

  it("stops at the character and chunk limits", async () => {
    await bigPdf(path("five.pdf"), 5);
    await expect(readWithLimits(path("five.pdf"), { maxCharacters: 3_000 })).rejects.toMatchObject({ ...overLimit("JETQ_DOC_MAX_CHARACTERS"), message: expect.stringContaining("3,000 characters") });
    await expect(readWithLimits(path("five.pdf"), { maxChunks: 4 })).rejects.toMatchObject(overLimit("JETQ_DOC_MAX_CHUNKS"));
    // The same book within the limits reads in full.
    expect((await readWithLimits(path("five.pdf"), { maxCharacters: 20_000, maxChunks: 100 })).chunks.length).toBeGreaterThan(4);
  });

  it("refuses a zip-bomb EPUB from its declared sizes, before inflating the chapter", async () => {
    await makeZipBombEpub(path("bomb.epub"), 64 * 1024 * 1024);
    expect((await readFile(path("bomb.epub"))).length).toBeLessThan(1024 * 1024);
    const heapBefore = process.memoryUsage().heapUsed;
    const started = Date.now();
    await expect(readWithLimits(path("bomb.epub"))).rejects.toMatchObject({ ...overLimit("JETQ_DOC_MAX_COMPRESSION_RATIO"), message: expect.stringContaining("OEBPS/ch1.xhtml") });
    expect(Date.now() - started).toBeLessThan(5_000);
    // 64 MiB of chapter was never turned into a string.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 1024 * 1024);
    // Without the ratio limit the chapter is still bigger than one part may be, and than all entries together.
    await expect(readWithLimits(path("bomb.epub"), { maxCompressionRatio: 1e9 })).rejects.toMatchObject(overLimit("JETQ_DOC_MAX_PART_BYTES"));
    await expect(readWithLimits(path("bomb.epub"), { maxCompressionRatio: 1e9, maxPartBytes: 1e9, maxInflatedBytes: 32 * 1024 * 1024 })).rejects.toMatchObject(overLimit("JETQ_DOC_MAX_INFLATED_BYTES"));
  });

  it("refuses an EPUB with too many entries from its central directory", async () => {
    await makeEpubWithEntries(path("crowded.epub"), 60);
    await expect(readWithLimits(path("crowded.epub"), { maxArchiveEntries: 50 })).rejects.toMatchObject({ ...overLimit("JETQ_DOC_MAX_ARCHIVE_ENTRIES"), message: expect.stringMatching(/the EPUB archive has \d+ entries/) });
    expect((await readWithLimits(path("crowded.epub"), { maxArchiveEntries: 100 })).chunks[0]?.text).toContain("very many files");
  });

  it("checks every chapter's size before the first chapter is read", async () => {
    const chapter = (i: number) => ({ title: `Chapter ${i}`, html: `<p>${proseForPage(i, 300_000)}</p>` });
    await makeEpub(path("long.epub"), [chapter(1), chapter(2), chapter(3)], "Long");
    const attempt = await readWithLimits(path("long.epub"), { maxInflatedBytes: 700_000 }).catch((err: unknown) => err);
    expect(attempt).toMatchObject(overLimit("JETQ_DOC_MAX_INFLATED_BYTES"));
    expect((await readWithLimits(path("long.epub"), { maxInflatedBytes: 2_000_000 })).chunks.length).toBeGreaterThan(100);
  });

  it("refuses HTML and Markdown files larger than a part may be, before parsing them", async () => {
    await writeFile(path("big.html"), `<html><body>${"<p>Some words in a paragraph.</p>".repeat(2_000)}</body></html>`);
    await expect(readWithLimits(path("big.html"), { maxPartBytes: 10_000 })).rejects.toMatchObject(overLimit("JETQ_DOC_MAX_PART_BYTES"));
    await writeFile(path("big.md"), "Words in a paragraph.\n\n".repeat(2_000));
    await expect(readWithLimits(path("big.md"), { maxPartBytes: 10_000 })).rejects.toMatchObject(overLimit("JETQ_DOC_MAX_PART_BYTES"));
  });

  it("never cuts HTML text silently: past html-to-text's own 16 Mi-character default the whole text comes out", () => {
    const words = "word ".repeat(3_500_000);
    const text = htmlToText(`<html><body><p>${words}the last words</p></body></html>`);
    expect(text.length).toBeGreaterThan(17_000_000);
    expect(text.trimEnd().endsWith("the last words")).toBe(true);
  });

  it("reads settings for every limit, with defaults", () => {
    expect(loadConfig({}).documents.limits).toEqual(DEFAULT_DOCUMENT_LIMITS);
    const configured = loadConfig({
      JETQ_DOC_MAX_PAGES: "10",
      JETQ_DOC_MAX_CHARACTERS: "11",
      JETQ_DOC_MAX_CHUNKS: "12",
      JETQ_DOC_MAX_PART_BYTES: "13",
      JETQ_DOC_MAX_INFLATED_BYTES: "14",
      JETQ_DOC_MAX_ARCHIVE_ENTRIES: "15",
      JETQ_DOC_MAX_COMPRESSION_RATIO: "16",
      JETQ_DOC_MAX_PART_SECONDS: "17",
      JETQ_DOC_PARSER_HEAP_MB: "64",
    }).documents;
    expect(configured.limits).toEqual({ maxPages: 10, maxCharacters: 11, maxChunks: 12, maxPartBytes: 13, maxInflatedBytes: 14, maxArchiveEntries: 15, maxCompressionRatio: 16, maxPartSeconds: 17 });
    expect(configured.parserHeapMb).toBe(64);
  });
});

describe("extraction in a thread", () => {
  const options = (over: Partial<Parameters<typeof extractDocument>[2]> = {}) => ({ chunkSize: 400, chunkOverlap: 40, limits: DEFAULT_DOCUMENT_LIMITS, heapMb: 256, ...over });
  const drain = async (reading: Awaited<ReturnType<typeof extractDocument>>) => {
    const chunks: Chunk[] = [];
    for await (const chunk of reading.chunks) chunks.push(chunk);
    return chunks;
  };

  it("streams the same chunks readDocument gives, with progress", async () => {
    await bigPdf(path("eight.pdf"), 8);
    const inProcess = await readAllChunks(path("eight.pdf"), {}, 400, 40);
    const parts: number[] = [];
    const reading = await extractDocument(path("eight.pdf"), {}, options({ onPart: (n) => parts.push(n) }));
    expect(reading.info).toMatchObject({ format: "pdf", totalParts: 8 });
    expect(await drain(reading)).toEqual(inProcess);
    expect(parts).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(reading.stats()).toMatchObject({ parts: 8, chunks: inProcess.length });
  }, 60_000);

  it("fails HTML nested 100,000 deep once, as a non-retryable document_too_complex", async () => {
    await writeFile(path("deep.html"), deeplyNestedHtml(100_000));
    const failure = await extractDocument(path("deep.html"), {}, options()).then(drain).catch((err: unknown) => err);
    expect(failure).toMatchObject({ name: "NonRetryableError", code: "document_too_complex" });
  }, 120_000);

  it("fails a 3 KB PDF whose drawing instructions nest a billion deep once, as document_too_complex, within its part budget", async () => {
    // A page draws form XObject X0, which draws X1 ten times, … nine levels down to one (x) Tj:
    // no page, character or heap limit notices, but reading its one page would take hours.
    await writeFile(path("xobject-bomb.pdf"), nestedXObjectPdf(9, 10));
    const started = Date.now();
    const failure = await extractDocument(path("xobject-bomb.pdf"), {}, options({ limits: limits({ maxPartSeconds: 2 }) })).then(drain).catch((err: unknown) => err);
    expect(failure).toMatchObject({ name: "NonRetryableError", code: "document_too_complex", message: expect.stringContaining("JETQ_DOC_MAX_PART_SECONDS") });
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);

  it("survives the thread running out of memory: that document fails, the next one reads", async () => {
    // 24 MB of Markdown with the size limits lifted: the thread's 48 MB heap cannot hold its tokens.
    await writeFile(path("huge.md"), "- item with a few words\n".repeat(1_000_000));
    const failure = await extractDocument(path("huge.md"), {}, options({ heapMb: 48, limits: limits({ maxPartBytes: 1e9 }) })).then(drain).catch((err: unknown) => err);
    expect(failure).toMatchObject({ name: "NonRetryableError", code: "document_limit_exceeded", message: expect.stringContaining("JETQ_DOC_PARSER_HEAP_MB") });
    await writeFile(path("small.md"), "# Fine\n\nThis one is small.");
    expect((await drain(await extractDocument(path("small.md"), {}, options())))[0]?.text).toContain("This one is small.");
  }, 120_000);

  it("stops the thread when the signal aborts", async () => {
    await bigPdf(path("forty.pdf"), 40);
    const controller = new AbortController();
    const reading = await extractDocument(path("forty.pdf"), {}, options({ signal: controller.signal, onPart: (n) => n === 2 && controller.abort(new Error("stop now")) }));
    await expect(drain(reading)).rejects.toThrow("stop now");
    expect(reading.stats().parts).toBeLessThan(40);
  }, 60_000);
});

describe("temporary book folders", () => {
  it("removes the folders of processes that are gone, and only those", async () => {
    const parent = path("tmp");
    await mkdir(parent);
    const live = await makeBookDir(parent);
    // A pid that certainly belonged to a process which has exited.
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
    const stale = live.replace(`-${process.pid}-`, `-${dead}-`);
    await mkdir(stale);
    await writeFile(join(stale, "book"), "left behind by a killed worker");
    await mkdir(join(parent, "unrelated-folder"));
    expect(await sweepStaleBookDirs(parent)).toEqual([stale.slice(parent.length + 1)]);
    expect((await readdir(parent)).sort()).toEqual([live.slice(parent.length + 1), "unrelated-folder"].sort());
  });
});
