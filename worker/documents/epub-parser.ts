// EPUB: one part per spine chapter, section = its table-of-contents title, text via html-to-text.
// The archive is read by ZipArchive (streamed, inside the document limits), its package files
// (container.xml, the OPF, the NCX or nav document) by epub-package.ts.
import type { DocumentLimits } from "../../library/document-limits.js";
import type { DocumentParser, DocumentPart } from "./document.js";
import { decodeText, readEpubPackage, type EpubChapter } from "./epub-package.js";
import { htmlToSections } from "./html-text.js";
import { ZipArchive } from "./zip-archive.js";

export const epubParser: DocumentParser = {
  format: "epub",
  async parse(filePath, { limits, signal }) {
    // Opened once for the package and again for the chapters, so a caller that never iterates leaks nothing.
    const archive = await ZipArchive.open(filePath, limits);
    try {
      const pkg = await readEpubPackage(archive, signal);
      // Every chapter's declared size against the limits before the first one is inflated.
      archive.reserve(pkg.chapters.map((chapter) => chapter.path));
      return { info: { format: "epub", title: pkg.title, totalParts: pkg.chapters.length }, parts: chapterParts(filePath, limits, pkg.chapters, signal) };
    } finally {
      archive.close();
    }
  },
};

async function* chapterParts(filePath: string, limits: DocumentLimits, chapters: EpubChapter[], signal?: AbortSignal): AsyncIterable<DocumentPart> {
  const archive = await ZipArchive.open(filePath, limits);
  try {
    let page = 0;
    for (const chapter of chapters) {
      signal?.throwIfAborted();
      page++;
      const xhtml = decodeText(await archive.read(chapter.path, { signal }));
      const sections = htmlToSections(xhtml);
      const text = sections.map((section) => section.text).join("\n\n");
      // Chapters missing from the table of contents are named by their first heading instead.
      const section = chapter.title || sections.find((s) => s.heading)?.heading;
      yield { page, section, text };
    }
  } finally {
    archive.close();
  }
}
