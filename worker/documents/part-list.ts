// Parsers that must read a whole file anyway (Markdown, HTML) hand their parts over through this.
import type { DocumentPart } from "./document.js";

export async function* partsFrom(parts: readonly DocumentPart[]): AsyncIterable<DocumentPart> {
  yield* parts;
}
