// Decides which parser reads a file: magic bytes first (they cannot lie), then the declared content
// type, then the file name's extension.
import { extname } from "node:path";
import type { DocumentParser, ParsedDocumentInfo } from "./document.js";
import { documentError } from "./document-errors.js";
import { epubParser } from "./epub-parser.js";
import { htmlParser } from "./html-parser.js";
import { markdownParser } from "./markdown-parser.js";
import { pdfParser } from "./pdf-parser.js";
import { textParser } from "./text-parser.js";

export type DocumentFormat = ParsedDocumentInfo["format"];

export interface FormatClues {
  filename?: string;
  contentType?: string;
  /** The file's first bytes; 1 KiB or more is enough. */
  head: Buffer;
}

/** How many leading bytes detectFormat looks at. */
export const FORMAT_HEAD_BYTES = 4096;

const CONTENT_TYPES: Record<string, DocumentFormat> = {
  "application/pdf": "pdf",
  "application/x-pdf": "pdf",
  "text/plain": "text",
  "text/markdown": "markdown",
  "text/x-markdown": "markdown",
  "text/html": "html",
  "application/xhtml+xml": "html",
  "application/epub+zip": "epub",
};

const EXTENSIONS: Record<string, DocumentFormat> = {
  ".pdf": "pdf",
  ".txt": "text",
  ".text": "text",
  ".md": "markdown",
  ".markdown": "markdown",
  ".html": "html",
  ".htm": "html",
  ".xhtml": "html",
  ".epub": "epub",
};

// Formats people upload by mistake, named in the error so they know what to convert.
const KNOWN_BINARIES: Array<{ magic: Buffer; name: string }> = [
  { magic: Buffer.from([0x89, 0x50, 0x4e, 0x47]), name: "a PNG image" },
  { magic: Buffer.from([0xff, 0xd8, 0xff]), name: "a JPEG image" },
  { magic: Buffer.from("GIF8"), name: "a GIF image" },
  { magic: Buffer.from([0xd0, 0xcf, 0x11, 0xe0]), name: "an old Microsoft Office file (.doc/.xls/.ppt)" },
  { magic: Buffer.from([0x1f, 0x8b]), name: "a gzip archive" },
  { magic: Buffer.from("Rar!"), name: "a RAR archive" },
  { magic: Buffer.from("7z\xbc\xaf", "latin1"), name: "a 7-Zip archive" },
];

export function detectFormat({ filename, contentType, head }: FormatClues): DocumentFormat {
  const claimed = claimedFormat(filename, contentType);
  const fromBytes = formatFromMagic(head, filename, claimed);
  if (fromBytes) return fromBytes;
  if (!claimed) {
    throw documentError(
      "unsupported_format",
      `unsupported document format: filename ${JSON.stringify(filename ?? "")}, content type ${JSON.stringify(contentType ?? "")}; ` +
        "supported are PDF, EPUB, plain text, Markdown and HTML",
    );
  }
  // A PDF or EPUB without its signature reaches its parser, which reports it as corrupt.
  if (claimed !== "pdf" && claimed !== "epub" && looksBinary(head)) {
    throw documentError("corrupt_document", `the file claims to be ${claimed} but holds binary data`);
  }
  return claimed;
}

/** What the upload says it is: the content type, else the extension. */
function claimedFormat(filename: string | undefined, contentType: string | undefined): DocumentFormat | undefined {
  const mediaType = contentType?.split(";")[0].trim().toLowerCase() ?? "";
  const fromExtension = filename ? EXTENSIONS[extname(filename).toLowerCase()] : undefined;
  // text/plain is what many clients send for any text file, so a more specific extension wins.
  if (mediaType === "text/plain" && fromExtension) return fromExtension;
  return CONTENT_TYPES[mediaType] ?? fromExtension;
}

export function parserFor(format: DocumentFormat): DocumentParser {
  switch (format) {
    case "pdf":
      return pdfParser;
    case "text":
      return textParser;
    case "markdown":
      return markdownParser;
    case "html":
      return htmlParser;
    case "epub":
      return epubParser;
  }
}

function formatFromMagic(head: Buffer, filename: string | undefined, claimed: DocumentFormat | undefined): DocumentFormat | undefined {
  // PDF readers accept the header anywhere in the first KiB; so does this check.
  if (head.subarray(0, 1024).includes("%PDF-")) return "pdf";
  if (isZip(head)) {
    // Some EPUB writers break the "mimetype first" rule; trust the name then, the EPUB parser checks the rest.
    if (isEpubZip(head) || claimed === "epub") return "epub";
    throw documentError("unsupported_format", `unsupported document format: ${describe(filename)} is a ZIP archive (for example .docx), not an EPUB`);
  }
  const binary = KNOWN_BINARIES.find(({ magic }) => head.subarray(0, magic.length).equals(magic));
  if (binary) throw documentError("unsupported_format", `unsupported document format: ${describe(filename)} is ${binary.name}`);
  return undefined;
}

function isZip(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32LE(0) === 0x04034b50;
}

// The EPUB container rule: the first entry is an uncompressed file "mimetype" holding the media type.
function isEpubZip(head: Buffer): boolean {
  if (head.length < 58) return false;
  const nameLength = head.readUInt16LE(26);
  const extraLength = head.readUInt16LE(28);
  const name = head.toString("latin1", 30, 30 + nameLength);
  const data = head.toString("latin1", 30 + nameLength + extraLength, 30 + nameLength + extraLength + 20);
  return name === "mimetype" && data === "application/epub+zip";
}

function looksBinary(head: Buffer): boolean {
  return head.includes(0);
}

function describe(filename: string | undefined): string {
  return filename ? JSON.stringify(filename) : "the file";
}
