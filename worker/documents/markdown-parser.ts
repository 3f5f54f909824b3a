// Markdown: one part per heading section (marked's lexer), text without markup, section = heading text.
import { readFile } from "node:fs/promises";
import { Lexer, type Token, type Tokens } from "marked";
import type { DocumentParser, DocumentPart } from "./document.js";
import { htmlToText } from "./html-text.js";
import { enforceFileSize, partsFrom } from "./part-list.js";

export const markdownParser: DocumentParser = {
  format: "markdown",
  async parse(filePath, { limits }) {
    await enforceFileSize(filePath, limits, "Markdown");
    const source = await readFile(filePath, "utf8");
    const parts = sectionsOf(new Lexer().lex(source));
    // Markdown has no title field; its first heading is what a reader takes for one.
    const title = parts.find((part) => part.section !== undefined)?.section;
    return { info: { format: "markdown", title, totalParts: parts.length }, parts: partsFrom(parts) };
  },
};

function sectionsOf(tokens: Token[]): DocumentPart[] {
  const parts: DocumentPart[] = [];
  let section: string | undefined;
  let blocks: string[] = [];
  const flush = () => {
    const text = blocks.filter((block) => block.trim() !== "").join("\n\n");
    if (text.trim() !== "") parts.push({ page: parts.length + 1, section, text });
  };
  for (const token of tokens) {
    if (token.type === "heading") {
      flush();
      section = inlineText((token as Tokens.Heading).tokens).trim() || undefined;
      blocks = [section ?? ""];
    } else {
      blocks.push(blockText(token));
    }
  }
  flush();
  return parts;
}

/** A block token's readable text; blocks inside it are separated by blank lines. */
function blockText(token: Token): string {
  switch (token.type) {
    case "space":
    case "hr":
    case "def":
      return "";
    case "code":
      return token.text;
    case "html":
      return htmlToText(token.text);
    case "list":
      return (token as Tokens.List).items.map((item) => item.tokens.map(blockText).join("\n\n")).join("\n");
    case "table": {
      const table = token as Tokens.Table;
      const row = (cells: Tokens.TableCell[]) => cells.map((cell) => inlineText(cell.tokens)).join(" | ");
      return [row(table.header), ...table.rows.map(row)].join("\n");
    }
    case "blockquote":
      return (token as Tokens.Blockquote).tokens.map(blockText).join("\n\n");
    default:
      return "tokens" in token && token.tokens ? inlineText(token.tokens) : "text" in token ? String(token.text) : "";
  }
}

/** Inline tokens (emphasis, links, code spans…) reduced to the words a reader sees. */
function inlineText(tokens: Token[] | undefined): string {
  return (tokens ?? [])
    .map((token) => {
      switch (token.type) {
        case "br":
          return "\n";
        case "html":
          return token.text.replace(/<[^>]*>/g, "");
        case "image":
          return token.text;
        case "codespan":
        case "escape":
          return token.text;
        default:
          return "tokens" in token && token.tokens ? inlineText(token.tokens) : "text" in token ? String(token.text) : "";
      }
    })
    .join("");
}
