// Writes small documents of every supported format into a directory, for parser tests and benchmarks.
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import JSZip from "jszip";
import PDFDocument from "pdfkit";

// A fixed creation date keeps generated PDFs byte-identical from run to run.
const FIXED_DATE = new Date("2024-01-01T00:00:00Z");

export async function makeTempDir(prefix = "jetq-documents-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface PdfOptions {
  /** Encrypts the PDF: readers must supply this password to open it. */
  password?: string;
  title?: string;
}

/** One page per string; an empty string makes a page with a drawing but no text, like a scan. */
export async function makePdf(path: string, pages: string[], opts: PdfOptions = {}): Promise<void> {
  await writePdf(path, opts, (doc) => {
    for (const text of pages) {
      doc.addPage();
      if (text === "") doc.rect(100, 100, 200, 300).fill("#888888");
      else doc.fontSize(11).text(text, { width: 468 });
    }
  });
}

/**
 * A PDF of `pageCount` pages of varied, deterministic prose (about 1,800 characters a page), each
 * page naming its number in its first sentence ("This is page 12.").
 */
export async function bigPdf(path: string, pageCount: number): Promise<void> {
  await writePdf(path, { title: `Generated book of ${pageCount} pages` }, (doc) => {
    for (let page = 1; page <= pageCount; page++) {
      doc.addPage();
      doc.fontSize(10).text(proseForPage(page), { width: 468 });
    }
  });
}

/** The text bigPdf puts on a page: paragraphs of sentences drawn from a fixed word list. */
export function proseForPage(page: number, characters = 1800): string {
  const random = seededRandom(page);
  const paragraphs: string[] = [];
  let sentences: string[] = [`This is page ${page}.`];
  let length = 0;
  while (length < characters) {
    const words = Array.from({ length: 6 + Math.floor(random() * 14) }, () => WORDS[Math.floor(random() * WORDS.length)]);
    const sentence = `${words.join(" ")}.`;
    sentences.push(sentence[0].toUpperCase() + sentence.slice(1));
    length += sentence.length + 1;
    if (sentences.length >= 5 && random() < 0.3) {
      paragraphs.push(sentences.join(" "));
      sentences = [];
    }
  }
  if (sentences.length > 0) paragraphs.push(sentences.join(" "));
  return paragraphs.join("\n\n");
}

export interface EpubChapter {
  title: string;
  /** The body's inner HTML. */
  html: string;
}

/** A minimal valid EPUB 3 with an EPUB 2 NCX too: the parser reads chapter titles from the NCX first, the nav document second. */
export async function makeEpub(path: string, chapters: EpubChapter[], title: string): Promise<void> {
  await writeFile(path, await epubZip(chapters, title).generateAsync({ type: "nodebuffer", compression: "DEFLATE" }));
}

/** The archive makeEpub writes, for fixtures that add to it before writing. */
function epubZip(chapters: EpubChapter[], title: string): JSZip {
  const zip = new JSZip();
  // The container rule: "mimetype" first and uncompressed, so the type shows at a fixed offset.
  zip.file("mimetype", "application/epub+zip", { compression: "STORE" });
  zip.file(
    "META-INF/container.xml",
    `<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>`,
  );
  const ids = chapters.map((_, i) => `ch${i + 1}`);
  zip.file(
    "OEBPS/content.opf",
    `<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="bookid">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="bookid">urn:uuid:00000000-0000-4000-8000-000000000001</dc:identifier>
    <dc:title>${escapeXml(title)}</dc:title>
    <dc:language>en</dc:language>
    <meta property="dcterms:modified">2024-01-01T00:00:00Z</meta>
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>
${ids.map((id) => `    <item id="${id}" href="${id}.xhtml" media-type="application/xhtml+xml"/>`).join("\n")}
  </manifest>
  <spine toc="ncx">
${ids.map((id) => `    <itemref idref="${id}"/>`).join("\n")}
  </spine>
</package>`,
  );
  zip.file(
    "OEBPS/nav.xhtml",
    xhtml(title, `<nav epub:type="toc"><ol>${chapters.map((c, i) => `<li><a href="${ids[i]}.xhtml">${escapeXml(c.title)}</a></li>`).join("")}</ol></nav>`),
  );
  zip.file(
    "OEBPS/toc.ncx",
    `<?xml version="1.0" encoding="UTF-8"?>
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">
  <head><meta name="dtb:uid" content="urn:uuid:00000000-0000-4000-8000-000000000001"/></head>
  <docTitle><text>${escapeXml(title)}</text></docTitle>
  <navMap>
${chapters
  .map((c, i) => `    <navPoint id="np${i + 1}" playOrder="${i + 1}"><navLabel><text>${escapeXml(c.title)}</text></navLabel><content src="${ids[i]}.xhtml"/></navPoint>`)
  .join("\n")}
  </navMap>
</ncx>`,
  );
  chapters.forEach((chapter, i) => zip.file(`OEBPS/${ids[i]}.xhtml`, xhtml(chapter.title, chapter.html)));
  return zip;
}

/**
 * A zip bomb shaped like an EPUB: one chapter of `inflatedBytes` of one repeated letter, deflated
 * to about a thousandth of that (64 MiB of chapter in a 65 KB file).
 */
export async function makeZipBombEpub(path: string, inflatedBytes: number): Promise<void> {
  const zip = epubZip([{ title: "Bomb", html: "" }], "A Small Book");
  const [head, tail] = xhtml("Bomb", "<p>\u0000</p>").split("\u0000");
  const chapter = Buffer.alloc(inflatedBytes, "a");
  chapter.write(head!, 0);
  chapter.write(tail!, inflatedBytes - Buffer.byteLength(tail!));
  zip.file("OEBPS/ch1.xhtml", chapter, { compression: "DEFLATE", compressionOptions: { level: 9 } });
  await writeFile(path, await zip.generateAsync({ type: "nodebuffer", compression: "DEFLATE" }));
}

/** A small valid EPUB that also holds `extraEntries` one-byte entries (as if images), for the entry-count limit. */
export async function makeEpubWithEntries(path: string, extraEntries: number): Promise<void> {
  const zip = epubZip([{ title: "Only", html: "<p>A chapter among very many files.</p>" }], "Many Files");
  for (let i = 0; i < extraEntries; i++) zip.file(`OEBPS/images/img${i}.gif`, "x", { compression: "STORE" });
  await writeFile(path, await zip.generateAsync({ type: "nodebuffer", compression: "DEFLATE" }));
}

/**
 * A hand-written PDF of a couple of KB whose page tree names one page object fanOut^levels times
 * (1,000,000 by default): every Kids array repeats the same node. pdf.js takes the page count
 * from the root's /Count and would read the same page a million times.
 */
export async function makeRepeatedPagePdf(path: string, fanOut = 100, levels = 3): Promise<number> {
  const objects: string[] = ["<< /Type /Catalog /Pages 2 0 R >>"];
  // Objects 2 … levels+1 are the tree's levels, each naming the next one fanOut times.
  for (let level = 0; level < levels; level++) {
    const self = 2 + level;
    const parent = level === 0 ? "" : ` /Parent ${self - 1} 0 R`;
    objects.push(`<< /Type /Pages${parent} /Kids [${Array(fanOut).fill(`${self + 1} 0 R`).join(" ")}] /Count ${fanOut ** (levels - level)} >>`);
  }
  const page = 2 + levels;
  const content = "BT /F1 12 Tf 72 720 Td (The same page, once again.) Tj ET";
  objects.push(`<< /Type /Page /Parent ${page - 1} 0 R /MediaBox [0 0 612 792] /Contents ${page + 1} 0 R /Resources << /Font << /F1 ${page + 2} 0 R >> >> >>`);
  objects.push(`<< /Length ${content.length} >>\nstream\n${content}\nendstream`);
  objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  let pdf = "%PDF-1.4\n";
  const offsets = objects.map((body, i) => {
    const at = pdf.length;
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
    return at;
  });
  const xref = pdf.length;
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((at) => `${String(at).padStart(10, "0")} 00000 n \n`).join("")}`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  await writeFile(path, pdf, "latin1");
  return fanOut ** levels;
}

/** HTML whose body is `depth` nested <div>s around one word. */
export function deeplyNestedHtml(depth: number): string {
  return `<html><head><title>Deep</title></head><body>${"<div>".repeat(depth)}deep${"</div>".repeat(depth)}</body></html>`;
}

/** A ZIP that is not an EPUB, shaped like a .docx. */
export async function makeDocx(path: string): Promise<void> {
  const zip = new JSZip();
  zip.file("[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`);
  zip.file("word/document.xml", `<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>`);
  await writeFile(path, await zip.generateAsync({ type: "nodebuffer" }));
}

/** Deterministic bytes that are no document at all (no magic number, NUL bytes included). */
export async function writeGarbage(path: string, size = 2048): Promise<void> {
  const random = seededRandom(size);
  await writeFile(path, Buffer.from(Array.from({ length: size }, () => Math.floor(random() * 256))));
}

/** The first bytes of a PNG image followed by garbage. */
export async function writePngHeader(path: string): Promise<void> {
  await writeFile(path, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 7)]));
}

async function writePdf(path: string, opts: PdfOptions, draw: (doc: PDFKit.PDFDocument) => void): Promise<void> {
  const doc = new PDFDocument({
    autoFirstPage: false,
    // No undefined values: pdfkit hashes every info entry into the file ID.
    info: { CreationDate: FIXED_DATE, ModDate: FIXED_DATE, ...(opts.title ? { Title: opts.title } : {}) },
    ...(opts.password ? { userPassword: opts.password, ownerPassword: `${opts.password}-owner` } : {}),
  });
  const out = createWriteStream(path);
  const finished = new Promise<void>((resolve, reject) => {
    out.on("finish", resolve);
    out.on("error", reject);
  });
  // Piped, so pages are flushed to disk as they are drawn rather than buffered.
  doc.pipe(out);
  draw(doc);
  doc.end();
  await finished;
}

function xhtml(title: string, body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<head><title>${escapeXml(title)}</title></head>
<body>${body}</body>
</html>`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

// mulberry32: tiny, fast and the same everywhere, unlike Math.random.
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  "the a of and to in learning retrieval model vector query answer book chapter page student teacher " +
  "question knowledge system memory index search document context language reading writing river " +
  "mountain history science method result evidence theory practice example lesson quiet bright " +
  "careful rapid ancient modern simple complex gather measure explain compare discover build " +
  "observe describe record balance signal pattern network window garden harbour lantern orbit"
).split(" ");

/** A one-page PDF whose page draws a form XObject that draws the next `fanOut` times, `levels` deep. */
export function nestedXObjectPdf(levels: number, fanOut: number): Buffer {
  const objects = new Map<number, string>();
  const stream = (dict: string, body: string) => `<< ${dict} /Length ${body.length} >>\nstream\n${body}\nendstream`;
  objects.set(1, "<< /Type /Catalog /Pages 2 0 R >>");
  objects.set(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
  objects.set(3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /XObject << /X 10 0 R >> /Font << /F1 5 0 R >> >> >>");
  objects.set(4, stream("", "/X Do"));
  objects.set(5, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  for (let level = 0; level <= levels; level++) {
    const leaf = level === levels;
    const resources = leaf ? "<< /Font << /F1 5 0 R >> >>" : `<< /XObject << /X ${11 + level} 0 R >> /Font << /F1 5 0 R >> >>`;
    const body = leaf ? "BT /F1 1 Tf 0 0 Td (x) Tj ET" : Array(fanOut).fill("/X Do").join(" ");
    objects.set(10 + level, stream(`/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources ${resources}`, body));
  }
  const size = Math.max(...objects.keys()) + 1;
  let pdf = "%PDF-1.4\n";
  const offsets = new Map<number, number>();
  for (const [n, body] of [...objects].sort(([a], [b]) => a - b)) {
    offsets.set(n, pdf.length);
    pdf += `${n} 0 obj\n${body}\nendobj\n`;
  }
  const xref = pdf.length;
  pdf += `xref\n0 ${size}\n`;
  for (let n = 0; n < size; n++) pdf += offsets.has(n) ? `${String(offsets.get(n)).padStart(10, "0")} 00000 n \n` : "0000000000 65535 f \n";
  pdf += `trailer\n<< /Size ${size} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, "latin1");
}
