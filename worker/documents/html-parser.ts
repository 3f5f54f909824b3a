// HTML: one part per h1/h2 section (the whole page when it has none); title from <title>.
import { readFile } from "node:fs/promises";
import type { DocumentParser, DocumentPart } from "./document.js";
import { htmlToSections, htmlToText } from "./html-text.js";
import { enforceFileSize, partsFrom } from "./part-list.js";

export const htmlParser: DocumentParser = {
  format: "html",
  async parse(filePath, { limits }) {
    await enforceFileSize(filePath, limits, "HTML");
    // html-to-text needs the whole DOM, so the file is read at once; HTML books are small next to PDFs.
    const html = await readFile(filePath, "utf8");
    const parts: DocumentPart[] = htmlToSections(html).map((section, i) => ({ page: i + 1, section: section.heading, text: section.text }));
    return { info: { format: "html", title: titleOf(html), totalParts: parts.length }, parts: partsFrom(parts) };
  },
};

function titleOf(html: string): string | undefined {
  const match = /<title[^>]*>([\s\S]*?)<\/title\s*>/i.exec(html);
  // Through html-to-text so entities such as &amp; are decoded.
  const title = match ? htmlToText(`<p>${match[1]}</p>`).trim() : "";
  return title || undefined;
}
