// EPUB via epub2: one part per spine chapter, section = its table-of-contents title, text via html-to-text.
import { EPub } from "epub2";
import type { DocumentParser, DocumentPart } from "./document.js";
import { corruptDocument } from "./document-errors.js";
import { htmlToSections } from "./html-text.js";

type SpineItem = EPub["flow"][number];

const CHAPTER_MEDIA_TYPES = new Set(["application/xhtml+xml", "text/html"]);

export const epubParser: DocumentParser = {
  format: "epub",
  async parse(filePath, signal) {
    const epub = await Promise.resolve(EPub.createAsync(filePath)).catch((err: unknown) => {
      throw corruptDocument("EPUB", err);
    });
    const chapters = epub.flow.filter((item: SpineItem) => item.id && CHAPTER_MEDIA_TYPES.has(item["media-type"] ?? item.mediaType ?? ""));
    const title = epub.metadata.title?.trim() || undefined;
    return { info: { format: "epub", title, totalParts: chapters.length }, parts: chapterParts(epub, chapters, signal) };
  },
};

async function* chapterParts(epub: EPub, chapters: SpineItem[], signal?: AbortSignal): AsyncIterable<DocumentPart> {
  let page = 0;
  for (const chapter of chapters) {
    signal?.throwIfAborted();
    page++;
    // The raw XHTML: epub2's getChapter rewrites links and mangles line breaks we would rather keep.
    const xhtml = await Promise.resolve(epub.getChapterRawAsync(chapter.id!)).catch((err: unknown) => {
      throw corruptDocument("EPUB", err);
    });
    const sections = htmlToSections(xhtml);
    const text = sections.map((section) => section.text).join("\n\n");
    // Chapters missing from the table of contents are named by their first heading instead.
    const section = chapter.title?.trim() || sections.find((s) => s.heading)?.heading;
    yield { page, section, text };
  }
}
