// Cleans extracted text so chunks, embeddings and search see the same characters whatever the source format.

// C0/C1 controls except tab, newline and form feed, plus BOM, soft hyphen and zero-width characters
// that only disturb matching.
const INVISIBLE = /[\u0000-\u0008\u000B\u000E-\u001F\u007F-\u009F\u00AD\u200B-\u200D\u2060\uFEFF]/g;
// "exam-\nple" → "example": a word broken across lines by a hyphen, continued in lower case.
const HYPHENATED_LINE_BREAK = /(\p{L})-[^\S\n]*\n[^\S\n]*(\p{Ll})/gu;
// A blank line (possibly holding spaces) separates paragraphs; form feeds and U+2029 do too.
const PARAGRAPH_BREAK = /\n\s*\n/;

/**
 * NFC, no control characters, hyphenated line breaks joined, runs of whitespace collapsed to one
 * space (single line breaks are layout, not meaning) and paragraph breaks kept as one blank line.
 */
export function normaliseText(text: string): string {
  const cleaned = text
    .normalize("NFC")
    .replace(/\r\n?|\u2028/g, "\n")
    .replace(/[\f\u2029]/g, "\n\n")
    .replace(INVISIBLE, "")
    .replace(HYPHENATED_LINE_BREAK, "$1$2");
  return cleaned
    .split(PARAGRAPH_BREAK)
    .map((paragraph) => paragraph.replace(/\s+/g, " ").trim())
    .filter((paragraph) => paragraph !== "")
    .join("\n\n");
}

/** Headings and titles: one line, trimmed; undefined when nothing is left. */
export function normaliseLabel(label: string | undefined): string | undefined {
  const text = label === undefined ? "" : normaliseText(label).replace(/\s+/g, " ");
  return text || undefined;
}
