// PDF via pdf-parse v2 (pdf.js): one part per page, extracted a batch of pages at a time so a
// 1,000-page book's text is never held whole (pdf.js itself keeps the file's bytes).
import { readFile } from "node:fs/promises";
import type { PDFParse } from "pdf-parse";
import type { DocumentParser, DocumentPart } from "./document.js";
import { corruptDocument, documentError } from "./document-errors.js";

/** Pages extracted per pdf-parse call: large enough to amortise the call, small enough to stay light. */
export const PDF_PAGES_PER_BATCH = 25;
/** pdf.js keeps every page it loaded (~20 KB each) until destroyed, so the document is reopened this often. */
export const PDF_PAGES_PER_OPENING = 100;

export const pdfParser: DocumentParser = {
  format: "pdf",
  async parse(filePath, { signal }) {
    // Opened once for the metadata and again for the pages, so a caller that never iterates leaks nothing.
    const pdf = await openPdf(filePath);
    try {
      // pdf.js reads the page count from the page tree's root, without visiting a page, so
      // readDocument can refuse a document over JETQ_DOC_MAX_PAGES before any page is read.
      const { total, info } = await pdf.getInfo().catch(asDocumentError);
      const title = typeof info?.Title === "string" && info.Title.trim() !== "" ? info.Title.trim() : undefined;
      return { info: { format: "pdf", title, totalParts: total }, parts: pages(filePath, total, signal) };
    } finally {
      await pdf.destroy();
    }
  },
};

async function* pages(filePath: string, total: number, signal?: AbortSignal): AsyncIterable<DocumentPart> {
  for (let opening = 1; opening <= total; opening += PDF_PAGES_PER_OPENING) {
    const pdf = await openPdf(filePath);
    try {
      const end = Math.min(opening + PDF_PAGES_PER_OPENING - 1, total);
      for (let first = opening; first <= end; first += PDF_PAGES_PER_BATCH) {
        signal?.throwIfAborted();
        // With both set, pdf-parse reads them as the inclusive range first..last.
        const batch = await pdf.getText({ first, last: Math.min(first + PDF_PAGES_PER_BATCH - 1, end) }).catch(asDocumentError);
        for (const page of batch.pages) yield { page: page.num, text: page.text };
      }
    } finally {
      await pdf.destroy();
    }
  }
}

// Read afresh each time: pdf.js takes ownership of the bytes (the ArrayBuffer is detached).
async function openPdf(filePath: string): Promise<PDFParse> {
  // Loaded on first use: pdf.js is large, and an extraction thread reading another format never needs it.
  const { PDFParse } = await import("pdf-parse");
  const bytes = await readFile(filePath);
  // A plain Uint8Array view: PDFParse copies Buffers, which would double the file in memory.
  return new PDFParse({ data: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
}

/** pdf.js's errors, by name (pdf-parse re-creates them), turned into codes a client can act on. */
function asDocumentError(err: unknown): never {
  const name = err instanceof Error ? err.name : "";
  if (name === "PasswordException") {
    throw documentError("encrypted_document", "the PDF is password-protected; upload an unlocked copy");
  }
  if (name === "InvalidPDFException" || name === "FormatError" || name === "UnknownErrorException") {
    throw corruptDocument("PDF", err);
  }
  throw err;
}
