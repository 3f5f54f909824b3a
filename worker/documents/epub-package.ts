// An EPUB's package: META-INF/container.xml names the OPF; the OPF gives the title, the manifest
// and the spine (reading order); the NCX (EPUB 2) or the nav document (EPUB 3) gives chapter
// titles. Parsed with fast-xml-parser, which bounds entity expansion and nesting itself; the trees
// are walked without recursion, so a hostile nesting depth cannot exhaust the stack.
import { posix } from "node:path";
import { XMLParser } from "fast-xml-parser";
import { documentError } from "./document-errors.js";
import type { ZipArchive } from "./zip-archive.js";

export interface EpubChapter {
  /** The chapter's entry name in the archive. */
  path: string;
  /** Its table-of-contents title, when it has one. */
  title?: string;
}

export interface EpubPackage {
  title?: string;
  chapters: EpubChapter[];
}

const CHAPTER_MEDIA_TYPES = new Set(["application/xhtml+xml", "text/html"]);
const NCX_MEDIA_TYPE = "application/x-dtbncx+xml";

type XmlNode = Record<string, unknown>;

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  removeNSPrefix: true,
  // Titles such as "1984" stay strings.
  parseTagValue: false,
  parseAttributeValue: false,
  htmlEntities: true,
  maxNestedTags: 500,
});

export async function readEpubPackage(archive: ZipArchive, signal?: AbortSignal): Promise<EpubPackage> {
  const container = await readXml(archive, "META-INF/container.xml", signal);
  const opfPath = children(child(child(container, "container"), "rootfiles"), "rootfile")
    .map((rootfile) => attribute(rootfile, "full-path"))
    .find((path): path is string => !!path);
  if (!opfPath) throw notEpub("META-INF/container.xml names no package document");

  const opf = child(await readXml(archive, opfPath, signal), "package");
  const manifest = new Map<string, { path: string; mediaType: string; properties: string }>();
  for (const item of children(child(opf, "manifest"), "item")) {
    const id = attribute(item, "id");
    const href = attribute(item, "href");
    if (id && href) manifest.set(id, { path: resolveHref(opfPath, href), mediaType: attribute(item, "media-type") ?? "", properties: attribute(item, "properties") ?? "" });
  }
  const spine = child(opf, "spine");
  const chapterPaths = children(spine, "itemref")
    .map((ref) => manifest.get(attribute(ref, "idref") ?? ""))
    .filter((item) => item !== undefined && CHAPTER_MEDIA_TYPES.has(item.mediaType) && archive.has(item.path))
    .map((item) => item!.path);

  const ncx = manifest.get(attribute(spine, "toc") ?? "") ?? [...manifest.values()].find((item) => item.mediaType === NCX_MEDIA_TYPE);
  const nav = [...manifest.values()].find((item) => item.properties.split(/\s+/).includes("nav"));
  const titles = ncx && archive.has(ncx.path) ? ncxTitles(await readXml(archive, ncx.path, signal), ncx.path) : nav && archive.has(nav.path) ? navTitles(await readXml(archive, nav.path, signal), nav.path) : new Map<string, string>();

  const title = textOf(children(child(opf, "metadata"), "title")[0]).trim() || undefined;
  return { title, chapters: chapterPaths.map((path) => ({ path, title: titles.get(path) })) };
}

/** NCX navPoints, nested to any depth: the first title naming a file wins. */
function ncxTitles(doc: XmlNode, ncxPath: string): Map<string, string> {
  const titles = new Map<string, string>();
  const pending = children(child(child(doc, "ncx"), "navMap"), "navPoint");
  for (let point = pending.shift(); point; point = pending.shift()) {
    const src = attribute(child(point, "content"), "src");
    const label = textOf(child(child(point, "navLabel"), "text")).trim();
    if (src && label) setOnce(titles, resolveHref(ncxPath, src), label);
    pending.unshift(...children(point, "navPoint"));
  }
  return titles;
}

/** The nav document's `<nav epub:type="toc">` links, in document order: the first title naming a file wins. */
function navTitles(doc: XmlNode, navPath: string): Map<string, string> {
  const titles = new Map<string, string>();
  const tocs = descendants(doc, "nav").filter((nav) => attribute(nav, "type")?.split(/\s+/).includes("toc"));
  for (const link of tocs.flatMap((toc) => descendants(toc, "a"))) {
    const href = attribute(link, "href");
    const label = textOf(link).replace(/\s+/g, " ").trim();
    if (href && label) setOnce(titles, resolveHref(navPath, href), label);
  }
  return titles;
}

async function readXml(archive: ZipArchive, path: string, signal?: AbortSignal): Promise<XmlNode> {
  if (!archive.has(path)) throw notEpub(`it has no ${JSON.stringify(path)}`);
  const text = decodeText(await archive.read(path, { signal }));
  try {
    return xml.parse(text) as XmlNode;
  } catch (err) {
    throw notEpub(`${path}: ${(err as Error).message}`);
  }
}

/** An href relative to the file that holds it, as an archive entry name (no fragment, percent-decoded). */
function resolveHref(from: string, href: string): string {
  const withoutFragment = href.split("#")[0];
  let decoded = withoutFragment;
  try {
    decoded = decodeURIComponent(withoutFragment);
  } catch {
    /* a malformed escape: keep the name as written */
  }
  return posix.normalize(posix.join(posix.dirname(from), decoded)).replace(/^(\.\.\/)+/, "");
}

function child(node: unknown, name: string): XmlNode | undefined {
  const value = isNode(node) ? node[name] : undefined;
  const first = Array.isArray(value) ? value[0] : value;
  return isNode(first) ? first : typeof first === "string" ? { "#text": first } : undefined;
}

function children(node: unknown, name: string): XmlNode[] {
  if (!isNode(node)) return [];
  return asList(node[name]).map((value) => (typeof value === "string" ? { "#text": value } : value)).filter(isNode);
}

function attribute(node: unknown, name: string): string | undefined {
  const value = isNode(node) ? node[`@${name}`] : undefined;
  return typeof value === "string" ? value : undefined;
}

/** All text below a node, in document order, without recursion. */
function textOf(node: unknown): string {
  const parts: string[] = [];
  const pending: unknown[] = [node];
  for (let current = pending.pop(); current !== undefined; current = pending.pop()) {
    if (typeof current === "string") parts.push(current);
    else if (Array.isArray(current)) pending.push(...[...current].reverse());
    else if (isNode(current)) {
      const entries = Object.entries(current).filter(([key]) => !key.startsWith("@"));
      pending.push(...entries.map(([, value]) => value).reverse());
    }
  }
  return parts.join(" ");
}

/** Every element called `name` below a node, depth first in document order, without recursion. */
function descendants(node: XmlNode, name: string): XmlNode[] {
  const found: XmlNode[] = [];
  const pending: XmlNode[] = [node];
  for (let current = pending.pop(); current !== undefined; current = pending.pop()) {
    const below: XmlNode[] = [];
    for (const [key, value] of Object.entries(current)) {
      if (key.startsWith("@")) continue;
      for (const item of asList(value).filter(isNode)) {
        if (key === name) found.push(item);
        else below.push(item);
      }
    }
    pending.push(...below.reverse());
  }
  return found;
}

function asList(value: unknown): XmlNode[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]) as XmlNode[];
}

function isNode(value: unknown): value is XmlNode {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function setOnce(map: Map<string, string>, key: string, value: string): void {
  if (!map.has(key)) map.set(key, value);
}

/** EPUB content documents are UTF-8 or UTF-16; a byte order mark says which. */
export function decodeText(bytes: Buffer): string {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder("utf-16le").decode(bytes);
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder("utf-16be").decode(bytes);
  return new TextDecoder("utf-8").decode(bytes);
}

function notEpub(reason: string) {
  return documentError("corrupt_document", `the file is not a readable EPUB document: ${reason}`);
}
