// A SourceReader looks at one registered source and says, document by document, what changed
// since the last sync. One file per kind of source (HTTP(S) URLs, local directories).
import type { SourcePolicy } from "../../library/source-safety.js";
import type { KnownDocument, SourceSpec } from "../../library/sources.js";

// A source's spec and what was known of its documents are the library's types (library/sources.ts).
export type { KnownDocument, SourceSpec } from "../../library/sources.js";

export type DocumentCheck =
  | { key: string; state: "unchanged" }
  | { key: string; state: "deleted" }
  | {
      key: string;
      state: "new" | "changed";
      /** A temporary file holding the content; the caller moves or deletes it. */
      filePath: string;
      filename: string;
      contentType?: string;
      hash: string;
      etag?: string;
      lastModified?: string;
      size: number;
    };

/** What a source may reach (library/source-safety.ts: addresses, hosts, the directory root) and how much it may read. */
export interface SourceLimits extends SourcePolicy {
  maxBytes: number;
  timeoutMs: number;
}

export interface SourceReader {
  /** Checks every document of the source against what was known; yields one result per document. */
  check(spec: SourceSpec, known: Record<string, KnownDocument>, signal?: AbortSignal): AsyncIterable<DocumentCheck>;
}
