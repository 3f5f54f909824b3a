// Picks the reader for a source's kind; adding a kind of source means one reader file and one line here.
import { DirectorySourceReader, type DirectorySourceReaderOptions } from "./directory-source-reader.js";
import { HttpSourceReader, type HttpSourceReaderOptions } from "./http-source-reader.js";
import type { SourceLimits, SourceReader, SourceSpec } from "./source-reader.js";

export type { DocumentCheck, KnownDocument, SourceLimits, SourceReader, SourceSpec } from "./source-reader.js";
export { vetUrl, refusedRange } from "./address-guard.js";
export { DirectorySourceReader } from "./directory-source-reader.js";
export { HttpSourceReader, SourceFetchError } from "./http-source-reader.js";

export type ReaderOptions = HttpSourceReaderOptions & DirectorySourceReaderOptions;

export function readerFor(spec: SourceSpec, limits: SourceLimits, options: ReaderOptions = {}): SourceReader {
  switch (spec.kind) {
    case "http":
      return new HttpSourceReader(limits, options);
    case "directory":
      return new DirectorySourceReader(limits, options);
  }
}
