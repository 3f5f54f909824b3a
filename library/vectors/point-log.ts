// The record format of the local vector store's append-only log, and reading it back.
//
// frame  = magic u32 | bodyLength u32 | crc32(body) u32 | body            (little-endian)
// body   = kind u8 | version f64 | …
//   upsert      (kind 1): id (u16 length + UTF-8) | bookId (u16 + UTF-8) | payload JSON (u32 + UTF-8) | dims u32 | dims × f32
//   delete book (kind 2): bookId (u16 + UTF-8)
//
// Several processes append to the same file (O_APPEND, one write per batch), so a reader may meet
// a record still being written (it stops there and comes back later) or, after a crash mid-write,
// a torn one (its checksum fails; the reader skips ahead to the next magic number).
import { endianness } from "node:os";
import { crc32 } from "node:zlib";
import type { FileHandle } from "node:fs/promises";

// Vectors are copied byte for byte between the log and Float32Arrays.
if (endianness() !== "LE") throw new Error("the local vector store supports little-endian machines only");

const MAGIC = 0x3156514a; // "JQV1"
const MAGIC_BYTES = Buffer.from([0x4a, 0x51, 0x56, 0x31]);
const HEADER = 12;
/** Larger bodies are corruption, not records: no chunk payload comes near this. */
const MAX_BODY = 64 * 1024 * 1024;
const READ_CHUNK = 8 * 1024 * 1024;

export const UPSERT = 1;
export const DELETE_BOOK = 2;

export type LogRecord =
  | { kind: typeof UPSERT; version: number; id: string; bookId: string; payload: string; vector: Buffer; frame: Buffer }
  | { kind: typeof DELETE_BOOK; version: number; bookId: string; frame: Buffer };

export function encodeUpsert(version: number, id: string, bookId: string, payload: string, vector: Float32Array): Buffer {
  const idB = Buffer.from(id, "utf8");
  const bookB = Buffer.from(bookId, "utf8");
  const payloadB = Buffer.from(payload, "utf8");
  if (idB.length > 0xffff || bookB.length > 0xffff) throw new RangeError("point id and book id must be under 64 KiB");
  const bodyLen = 1 + 8 + 2 + idB.length + 2 + bookB.length + 4 + payloadB.length + 4 + vector.byteLength;
  const buf = Buffer.allocUnsafe(HEADER + bodyLen);
  let o = HEADER;
  o = buf.writeUInt8(UPSERT, o);
  o = buf.writeDoubleLE(version, o);
  o = buf.writeUInt16LE(idB.length, o);
  o += idB.copy(buf, o);
  o = buf.writeUInt16LE(bookB.length, o);
  o += bookB.copy(buf, o);
  o = buf.writeUInt32LE(payloadB.length, o);
  o += payloadB.copy(buf, o);
  o = buf.writeUInt32LE(vector.length, o);
  o += Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).copy(buf, o);
  return frame(buf, bodyLen);
}

export function encodeDeleteBook(version: number, bookId: string): Buffer {
  const bookB = Buffer.from(bookId, "utf8");
  const bodyLen = 1 + 8 + 2 + bookB.length;
  const buf = Buffer.allocUnsafe(HEADER + bodyLen);
  let o = HEADER;
  o = buf.writeUInt8(DELETE_BOOK, o);
  o = buf.writeDoubleLE(version, o);
  o = buf.writeUInt16LE(bookB.length, o);
  bookB.copy(buf, o);
  return frame(buf, bodyLen);
}

function frame(buf: Buffer, bodyLen: number): Buffer {
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt32LE(bodyLen, 4);
  buf.writeUInt32LE(crc32(buf.subarray(HEADER)), 8);
  return buf;
}

/** Size of an upsert record on disk, for the store's live-bytes estimate. */
export function upsertRecordBytes(idBytes: number, bookIdBytes: number, payloadBytes: number, dims: number): number {
  return HEADER + 1 + 8 + 2 + idBytes + 2 + bookIdBytes + 4 + payloadBytes + 4 + dims * 4;
}

function decodeBody(body: Buffer, frameBuf: Buffer): LogRecord | undefined {
  let o = 0;
  const kind = body.readUInt8(o);
  const version = body.readDoubleLE(o + 1);
  o += 9;
  const str16 = () => {
    const n = body.readUInt16LE(o);
    const s = body.toString("utf8", o + 2, o + 2 + n);
    o += 2 + n;
    return s;
  };
  if (kind === UPSERT) {
    const id = str16();
    const bookId = str16();
    const pn = body.readUInt32LE(o);
    const payload = body.toString("utf8", o + 4, o + 4 + pn);
    o += 4 + pn;
    const dims = body.readUInt32LE(o);
    o += 4;
    if (o + dims * 4 !== body.length) return undefined;
    return { kind, version, id, bookId, payload, vector: body.subarray(o, o + dims * 4), frame: frameBuf };
  }
  if (kind === DELETE_BOOK) return { kind, version, bookId: str16(), frame: frameBuf };
  return undefined;
}

export interface ReadResult {
  /** Where the next read starts: the end of the last whole record (an unfinished one is read again later). */
  offset: number;
  /** Bytes skipped over as corrupt (torn writes). */
  skipped: number;
}

/**
 * Reads whole records from `from` up to `to` (the file size seen by the caller) and hands each to
 * `onRecord`. Buffers handed over are only valid during the call.
 */
export async function readRecords(fh: FileHandle, from: number, to: number, onRecord: (r: LogRecord) => void): Promise<ReadResult> {
  let offset = from;
  let skipped = 0;
  let buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(HEADER, to - from)));
  while (offset < to) {
    const want = Math.min(buf.length, to - offset);
    const { bytesRead } = await fh.read(buf, 0, want, offset);
    if (bytesRead === 0) break;
    const short = bytesRead < want; // the file is shorter than the caller saw: stop after these bytes
    const view = buf.subarray(0, bytesRead);
    const viewReachesEnd = offset + bytesRead >= to;
    let p = 0;
    /** Bytes the next read must hold from where this one stopped; 0: stop, wait for the writer. */
    let readOn = 0;
    while (p < view.length) {
      if (view.length - p < HEADER) {
        if (offset + p + HEADER <= to) readOn = HEADER;
        break;
      }
      const bodyLen = view.readUInt32LE(p + 4);
      if (view.readUInt32LE(p) !== MAGIC || bodyLen > MAX_BODY || bodyLen < 9) {
        const next = resync(view, p + 1);
        skipped += next - p;
        p = next;
        continue;
      }
      if (view.length - p < HEADER + bodyLen) {
        if (offset + p + HEADER + bodyLen <= to) {
          readOn = HEADER + bodyLen; // the record is in the file, just not in this buffer
          break;
        }
        if (!viewReachesEnd) {
          readOn = to - offset - p; // look at everything up to the end before judging it
          break;
        }
        // It claims more than the file holds: still being written — or torn by a crash, if whole
        // records were appended after it. Then skip to those.
        const next = nextWholeRecord(view, p + 1);
        if (next < 0) break;
        skipped += next - p;
        p = next;
        continue;
      }
      const record = wholeRecordAt(view, p);
      if (!record) {
        const next = resync(view, p + 1);
        skipped += next - p;
        p = next;
        continue;
      }
      onRecord(record);
      p += record.frame.length;
    }
    offset += p;
    if (p < view.length) {
      if (!readOn) break;
      if (readOn > buf.length) buf = Buffer.allocUnsafe(readOn);
    }
    if (short) break;
  }
  return { offset, skipped };
}

/** The record whose frame starts at p if it is complete and its checksum holds. */
function wholeRecordAt(view: Buffer, p: number): LogRecord | undefined {
  if (view.length - p < HEADER || view.readUInt32LE(p) !== MAGIC) return undefined;
  const bodyLen = view.readUInt32LE(p + 4);
  if (bodyLen > MAX_BODY || bodyLen < 9 || view.length - p < HEADER + bodyLen) return undefined;
  const body = view.subarray(p + HEADER, p + HEADER + bodyLen);
  if (crc32(body) !== view.readUInt32LE(p + 8)) return undefined;
  try {
    return decodeBody(body, view.subarray(p, p + HEADER + bodyLen));
  } catch {
    return undefined;
  }
}

/** Where the next complete, valid record after `from` starts, or -1. */
function nextWholeRecord(view: Buffer, from: number): number {
  for (let i = view.indexOf(MAGIC_BYTES, from); i >= 0; i = view.indexOf(MAGIC_BYTES, i + 1)) {
    if (wholeRecordAt(view, i)) return i;
  }
  return -1;
}

/** The next position that could start a record: a magic number, or the last 3 bytes that could begin one. */
function resync(view: Buffer, from: number): number {
  const i = view.indexOf(MAGIC_BYTES, from);
  return i >= 0 ? i : Math.max(from, view.length - (MAGIC_BYTES.length - 1));
}
