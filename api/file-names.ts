// Uploaded file names are shown back to users (listings, logs, answers), so what is stored must
// not be able to break a line, hide or reorder text, or pass for a path: control characters
// (CR, LF, NUL…), line and paragraph separators, bidirectional overrides, isolates and marks are
// removed, path separators become "_". Everything else — any script, emoji — is kept as sent.

// C0 and C1 controls, DEL; U+2028/2029 (line and paragraph separators); the bidi controls: ALM,
// LRM, RLM, the embeddings and overrides U+202A–202E, the isolates U+2066–2069; BOM / ZWNBSP.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/gu;
const SEPARATORS = /[/\\]/g;
/** Most bytes of a stored name (a common file-system limit); longer names are cut at a character. */
const MAX_NAME_BYTES = 255;

export function sanitiseFilename(name: string | undefined, fallback: string): string {
  let clean = (name ?? "").normalize("NFC").replace(UNSAFE, "").replace(SEPARATORS, "_").trim();
  if (Buffer.byteLength(clean) > MAX_NAME_BYTES) clean = truncateUtf8(clean, MAX_NAME_BYTES);
  // "." and ".." (and names of dots only) read as directories.
  return clean === "" || /^\.+$/.test(clean) ? fallback : clean;
}

/** The longest prefix of `s` (whole code points) that fits in `maxBytes` of UTF-8. */
function truncateUtf8(s: string, maxBytes: number): string {
  let bytes = 0;
  let out = "";
  for (const ch of s) {
    bytes += Buffer.byteLength(ch);
    if (bytes > maxBytes) break;
    out += ch;
  }
  return out.trimEnd();
}
