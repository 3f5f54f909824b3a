// HTML → plain text with html-to-text, shared by the HTML and EPUB parsers; h1/h2 mark section starts.
import { compile, type FormatCallback } from "html-to-text";

export interface HtmlSection {
  heading?: string;
  text: string;
}

// Private-use characters bracket each h1/h2 in the output so sections can be cut apart afterwards;
// any already in the input are removed first, so every marker found is one of ours.
const HEADING_START = "\uE000";
const HEADING_END = "\uE001";

const sectionHeading: FormatCallback = (elem, walk, builder) => {
  builder.openBlock({ leadingLineBreaks: 2 });
  builder.addLiteral(HEADING_START);
  walk(elem.children, builder);
  builder.addLiteral(HEADING_END);
  builder.closeBlock({ trailingLineBreaks: 2 });
};

const headingOptions = { uppercase: false, leadingLineBreaks: 2, trailingLineBreaks: 2 };

const toText = compile({
  wordwrap: false,
  // html-to-text silently cuts input past 16 Mi characters by default; the size of what reaches
  // it is bounded by JETQ_DOC_MAX_PART_BYTES instead, and over that the document fails loudly.
  limits: { maxInputLength: Number.MAX_SAFE_INTEGER },
  formatters: { sectionHeading },
  selectors: [
    { selector: "h1", format: "sectionHeading" },
    { selector: "h2", format: "sectionHeading" },
    { selector: "h3", options: headingOptions },
    { selector: "h4", options: headingOptions },
    { selector: "h5", options: headingOptions },
    { selector: "h6", options: headingOptions },
    // Link targets and images carry no readable text for retrieval.
    { selector: "a", options: { ignoreHref: true } },
    { selector: "img", format: "skip" },
    // One line per cell: the default table layout runs neighbouring cells' words together.
    { selector: "table", format: "block" },
    { selector: "td", format: "block", options: { leadingLineBreaks: 1, trailingLineBreaks: 1 } },
    { selector: "th", format: "block", options: { leadingLineBreaks: 1, trailingLineBreaks: 1 } },
  ],
});

/** The whole body as text; headings stay in place as lines of their own. */
export function htmlToText(html: string): string {
  return toText(stripMarkers(html)).replace(/[\uE000\uE001]/g, "");
}

/** The body cut at every h1/h2; text before the first heading is a section without a heading. */
export function htmlToSections(html: string): HtmlSection[] {
  const text = toText(stripMarkers(html));
  const sections: HtmlSection[] = [];
  const pieces = text.split(HEADING_START);
  const preamble = pieces.shift() ?? "";
  if (preamble.trim() !== "") sections.push({ text: preamble });
  for (const piece of pieces) {
    const end = piece.indexOf(HEADING_END);
    const heading = end >= 0 ? piece.slice(0, end).trim() : "";
    const body = end >= 0 ? piece.slice(end + HEADING_END.length) : piece;
    // The heading stays in the text too: it is often what a reader searches for.
    sections.push({ heading: heading || undefined, text: heading ? `${heading}\n\n${body}` : body });
  }
  return sections;
}

function stripMarkers(html: string): string {
  return html.replace(/[\uE000\uE001]/g, "");
}
