// Streams parts into overlapping chunks of at most chunkSize characters, holding only the current window.
import { type Chunk, type DocumentPart } from "./document.js";
import { documentError } from "./document-errors.js";
import { joinUnits, joinedLength, textUnits, type TextUnit } from "./text-units.js";

export interface ChunkingOptions {
  /** Maximum characters per chunk. */
  chunkSize: number;
  /** Characters the start of a chunk repeats from the end of the previous one (whole sentences where possible). */
  chunkOverlap: number;
}

export function chunkIdFor(index: number): string {
  return `c${String(index).padStart(6, "0")}`;
}

/**
 * Chunks never exceed chunkSize and never cross a page (or section) boundary, so the page a chunk
 * cites holds all of its text; consecutive chunks within a page overlap. Deterministic: the same
 * parts and options give the same chunks.
 */
export async function* chunkDocument(parts: AsyncIterable<DocumentPart>, options: ChunkingOptions): AsyncIterable<Chunk> {
  const { chunkSize, chunkOverlap } = validated(options);
  const window = new ChunkWindow(chunkSize, chunkOverlap);
  let index = 0;
  for await (const part of parts) {
    if (part.text.trim() === "") continue;
    if (window.hasNewText) yield window.toChunk(index++);
    window.clear();
    for (const unit of textUnits(part, chunkSize)) {
      if (!window.fits(unit)) {
        yield window.toChunk(index++);
        window.keepOverlapFor(unit);
      }
      window.add(unit);
    }
  }
  if (window.hasNewText) yield window.toChunk(index++);
}

/** The units of the chunk being built; after a chunk is emitted only its overlapping tail stays. */
class ChunkWindow {
  private units: TextUnit[] = [];
  private length = 0;
  /** False while the window holds only overlap already emitted in the previous chunk. */
  hasNewText = false;

  constructor(
    private readonly chunkSize: number,
    private readonly chunkOverlap: number,
  ) {}

  clear(): void {
    this.units = [];
    this.length = 0;
    this.hasNewText = false;
  }

  fits(unit: TextUnit): boolean {
    return this.length + joinedLength(unit, this.units.length === 0) <= this.chunkSize;
  }

  add(unit: TextUnit): void {
    this.length += joinedLength(unit, this.units.length === 0);
    this.units.push(unit);
    this.hasNewText = true;
  }

  toChunk(index: number): Chunk {
    const first = this.units[0];
    const chunk: Chunk = { chunkId: chunkIdFor(index), index, page: first.page, text: joinUnits(this.units) };
    if (first.section !== undefined) chunk.section = first.section;
    return chunk;
  }

  /** Keeps the tail that becomes the next chunk's start, shortened until `next` fits after it. */
  keepOverlapFor(next: TextUnit): void {
    const tail = this.overlapTail();
    while (tail.length > 0 && lengthOf(tail) + joinedLength(next, false) > this.chunkSize) tail.shift();
    this.units = tail;
    this.length = lengthOf(tail);
    this.hasNewText = false;
  }

  private overlapTail(): TextUnit[] {
    if (this.chunkOverlap === 0) return [];
    // Whole trailing sentences that together stay within the overlap…
    const tail: TextUnit[] = [];
    let length = 0;
    for (let i = this.units.length - 1; i >= 0; i--) {
      const unit = this.units[i];
      const added = unit.text.length + (tail.length > 0 ? (tail[0].startsParagraph ? 2 : 1) : 0);
      if (length + added > this.chunkOverlap) break;
      tail.unshift(unit);
      length += added;
    }
    if (tail.length > 0) return tail;
    // …else the last sentence's trailing words, so consecutive chunks still share context.
    const last = this.units[this.units.length - 1];
    const words = trailingWords(last.text, this.chunkOverlap);
    return words === "" ? [] : [{ ...last, text: words, startsParagraph: false }];
  }
}

function lengthOf(units: readonly TextUnit[]): number {
  return units.reduce((sum, unit, i) => sum + joinedLength(unit, i === 0), 0);
}

/** The longest run of whole words at the end of `text` within `maxLength` characters. */
function trailingWords(text: string, maxLength: number): string {
  const words = text.split(" ");
  let tail = "";
  for (let i = words.length - 1; i >= 0; i--) {
    const candidate = tail === "" ? words[i] : `${words[i]} ${tail}`;
    if (candidate.length > maxLength) break;
    tail = candidate;
  }
  // A single word longer than the overlap: its last characters still carry context.
  return tail !== "" ? tail : Array.from(words[words.length - 1]).slice(-maxLength).join("");
}

function validated({ chunkSize, chunkOverlap }: ChunkingOptions): ChunkingOptions {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw documentError("invalid_chunking", `chunkSize must be a positive integer, got ${chunkSize}`);
  }
  if (!Number.isInteger(chunkOverlap) || chunkOverlap < 0 || chunkOverlap >= chunkSize) {
    throw documentError("invalid_chunking", `chunkOverlap must be an integer from 0 to chunkSize - 1, got ${chunkOverlap}`);
  }
  return { chunkSize, chunkOverlap };
}
