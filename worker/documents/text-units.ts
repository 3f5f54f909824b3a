// Cuts a part's text into the pieces a chunk is built from: sentences, or word runs when a sentence
// alone is longer than a chunk, so the chunker never has to cut inside a word unless a word is huge.
import type { DocumentPart } from "./document.js";

export interface TextUnit {
  text: string;
  page: number;
  section?: string;
  /** True for the first unit of a paragraph: joined to the previous unit by a blank line, not a space. */
  startsParagraph: boolean;
}

// A fixed locale: sentence boundaries must not change with the machine's settings (determinism).
const sentenceSegmenter = new Intl.Segmenter("en", { granularity: "sentence" });

/** Units of at most `maxLength` characters, lazily, in reading order. */
export function* textUnits(part: DocumentPart, maxLength: number): Generator<TextUnit> {
  for (const paragraph of part.text.split(/\n\s*\n/)) {
    let startsParagraph = true;
    for (const { segment } of sentenceSegmenter.segment(paragraph)) {
      for (const text of splitToLength(segment.trim(), maxLength)) {
        yield { text, page: part.page, section: part.section, startsParagraph };
        startsParagraph = false;
      }
    }
  }
}

/** Whole words packed up to `maxLength`; a word longer than that is cut into slices. */
export function* splitToLength(text: string, maxLength: number): Generator<string> {
  if (text === "") return;
  if (text.length <= maxLength) {
    yield text;
    return;
  }
  let line = "";
  for (const word of text.split(/\s+/)) {
    for (const piece of sliceWord(word, maxLength)) {
      if (line !== "" && line.length + 1 + piece.length > maxLength) {
        yield line;
        line = "";
      }
      line = line === "" ? piece : `${line} ${piece}`;
    }
  }
  if (line !== "") yield line;
}

function* sliceWord(word: string, maxLength: number): Generator<string> {
  if (word.length <= maxLength) {
    if (word !== "") yield word;
    return;
  }
  // By code point, so a surrogate pair is never split.
  const chars = Array.from(word);
  let slice = "";
  for (const char of chars) {
    if (slice.length + char.length > maxLength) {
      yield slice;
      slice = "";
    }
    slice += char;
  }
  if (slice !== "") yield slice;
}

/** Characters the unit adds to a chunk after `previous` units: its text plus the joiner. */
export function joinedLength(unit: TextUnit, isFirst: boolean): number {
  return unit.text.length + (isFirst ? 0 : unit.startsParagraph ? 2 : 1);
}

export function joinUnits(units: readonly TextUnit[]): string {
  let text = "";
  units.forEach((unit, i) => {
    text += i === 0 ? unit.text : `${unit.startsParagraph ? "\n\n" : " "}${unit.text}`;
  });
  return text;
}
