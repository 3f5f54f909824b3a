// Plain text, streamed line by line: form feeds mark pages when the file has them, otherwise parts
// are blocks of about 50 lines ending at a paragraph break.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { DocumentParser, DocumentPart } from "./document.js";

const BLOCK_LINES = 50;
// A paragraph longer than this still ends the block, so no part grows without bound.
const MAX_BLOCK_LINES = 200;

export const textParser: DocumentParser = {
  format: "text",
  async parse(filePath, { signal }) {
    const formFeeds = await countFormFeeds(filePath, signal);
    const parts = formFeeds > 0 ? pages(filePath, signal) : blocks(filePath, signal);
    return { info: { format: "text", totalParts: formFeeds > 0 ? formFeeds + 1 : undefined }, parts };
  },
};

/** Pages separated by form feeds (\f), numbered from 1 including blank ones, so numbers match the print. */
async function* pages(filePath: string, signal?: AbortSignal): AsyncIterable<DocumentPart> {
  let page = 1;
  let lines: string[] = [];
  for await (const line of linesOf(filePath, signal)) {
    const pieces = line.split("\f");
    lines.push(pieces[0]);
    for (const piece of pieces.slice(1)) {
      yield { page: page++, text: lines.join("\n") };
      lines = [piece];
    }
  }
  yield { page, text: lines.join("\n") };
}

async function* blocks(filePath: string, signal?: AbortSignal): AsyncIterable<DocumentPart> {
  let block = 1;
  let lines: string[] = [];
  for await (const line of linesOf(filePath, signal)) {
    const atParagraphEnd = line.trim() === "";
    if ((lines.length >= BLOCK_LINES && atParagraphEnd) || lines.length >= MAX_BLOCK_LINES) {
      yield { page: block++, text: lines.join("\n") };
      lines = [];
    }
    lines.push(line);
  }
  if (lines.length > 0) yield { page: block, text: lines.join("\n") };
}

async function* linesOf(filePath: string, signal?: AbortSignal): AsyncIterable<string> {
  const input = createReadStream(filePath, { encoding: "utf8", signal });
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    yield* lines;
  } finally {
    lines.close();
    input.destroy();
  }
}

// A first pass over the bytes, holding none of them, to know which way the file is paged.
async function countFormFeeds(filePath: string, signal?: AbortSignal): Promise<number> {
  let count = 0;
  for await (const bytes of createReadStream(filePath, { signal }) as AsyncIterable<Buffer>) {
    for (let at = bytes.indexOf(0x0c); at >= 0; at = bytes.indexOf(0x0c, at + 1)) count++;
  }
  return count;
}
