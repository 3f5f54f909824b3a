// File names and content types for documents found in sources: the parsers pick a format by
// extension or content type, so both readers name their files the same way.

/** Extensions a source document may have; everything else in a directory is ignored. */
export const SUPPORTED_EXTENSIONS = [".pdf", ".txt", ".md", ".markdown", ".html", ".htm", ".epub"] as const;

const TYPE_BY_EXTENSION: Record<string, string> = {
  ".pdf": "application/pdf",
  ".txt": "text/plain",
  ".md": "text/markdown",
  ".markdown": "text/markdown",
  ".html": "text/html",
  ".htm": "text/html",
  ".epub": "application/epub+zip",
};

const EXTENSION_BY_TYPE: Record<string, string> = {
  "application/pdf": ".pdf",
  "text/plain": ".txt",
  "text/markdown": ".md",
  "text/x-markdown": ".md",
  "text/html": ".html",
  "application/xhtml+xml": ".html",
  "application/epub+zip": ".epub",
};

export function isSupportedExtension(ext: string): boolean {
  return (SUPPORTED_EXTENSIONS as readonly string[]).includes(ext.toLowerCase());
}

export function contentTypeForExtension(ext: string): string | undefined {
  return TYPE_BY_EXTENSION[ext.toLowerCase()];
}

export function extensionForContentType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  return EXTENSION_BY_TYPE[contentType.split(";")[0]!.trim().toLowerCase()];
}

/** A name safe to show and to use as a file's base name: no path separators or control characters. */
export function safeFilename(name: string): string {
  return name
    .replace(/[\u0000-\u001f\u007f/\\]/g, "_")
    .replace(/^\.+/, "")
    .trim()
    .slice(0, 200);
}
