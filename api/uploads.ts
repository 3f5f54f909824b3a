// Multipart uploads streamed straight into the JetStream object store: busboy parses the request
// as it arrives and each file flows chunk by chunk into `ObjectStore.put`, which waits for every
// chunk's ack, so memory stays flat whatever the file size. On any failure the files already
// stored by this request are deleted: a rejected upload leaves nothing behind.
import { randomUUID } from "node:crypto";
import { Readable, Transform } from "node:stream";
import type { Request } from "express";
import busboy from "busboy";
import type { ObjectStore } from "@nats-io/obj";
import { bookObjectName } from "../core/books.js";
import { ApiError } from "../core/errors.js";

export interface UploadLimits {
  maxFileBytes: number;
  maxFiles: number;
  /** Form field names accepted for files; others are refused. */
  fileFields: string[];
}

export interface StoredUpload {
  bookId: string;
  field: string;
  filename: string;
  contentType: string;
  size: number;
}


export async function receiveUploads(req: Request, store: ObjectStore, limits: UploadLimits): Promise<{ fields: Record<string, string>; files: StoredUpload[] }> {
  if (!req.is("multipart/form-data")) throw new ApiError(415, "unsupported_media_type", "send the files as multipart/form-data");
  let bb: busboy.Busboy;
  try {
    // defParamCharset: file names in the multipart headers are UTF-8 (busboy assumes latin1).
    bb = busboy({ headers: req.headers, defParamCharset: "utf8", limits: { fileSize: limits.maxFileBytes, files: limits.maxFiles, fields: 50, fieldSize: 64 * 1024 } });
  } catch (err) {
    throw new ApiError(400, "malformed_multipart", `the multipart request is malformed: ${(err as Error).message}`);
  }

  const fields: Record<string, string> = {};
  const stored: (StoredUpload & { position: number })[] = [];
  let order = 0;
  const puts: Promise<void>[] = [];
  let failure: Error | null = null;
  const fail = (err: Error) => (failure ??= err);

  const finished = new Promise<void>((resolve) => {
    bb.on("field", (name, value) => (fields[name] = value));
    bb.on("file", (field, file, info) => {
      if (failure || !limits.fileFields.includes(field)) {
        if (!failure) fail(new ApiError(400, "unexpected_field", `unexpected file field ${JSON.stringify(field)}; use ${limits.fileFields.join(" or ")}`));
        file.resume();
        return;
      }
      const bookId = randomUUID();
      const position = order++;
      let size = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          cb(null, chunk);
        },
      });
      file.on("limit", () => {
        const err = new ApiError(413, "upload_too_large", `${info.filename || "a file"} is larger than the limit of ${limits.maxFileBytes} bytes`);
        fail(err);
        counter.destroy(err);
      });
      file.pipe(counter);
      const meta = {
        name: bookObjectName(bookId),
        description: info.filename,
        metadata: { filename: info.filename ?? "", contentType: info.mimeType ?? "application/octet-stream", bookId },
      };
      puts.push(
        store
          .put(meta, Readable.toWeb(counter) as unknown as ReadableStream<Uint8Array>)
          .then(() => {
            stored.push({ position, bookId, field, filename: info.filename || `${bookId}.bin`, contentType: info.mimeType || "application/octet-stream", size });
            if (size === 0) fail(new ApiError(400, "empty_file", `${info.filename || "a file"} is empty`));
          })
          .catch((err) => {
            fail(err instanceof ApiError ? err : new ApiError(503, "store_failed", `could not store ${info.filename}: ${(err as Error).message}`));
            file.resume();
          }),
      );
    });
    bb.on("filesLimit", () => fail(new ApiError(413, "too_many_files", `at most ${limits.maxFiles} files per request`)));
    bb.on("error", (err) => {
      fail(new ApiError(400, "malformed_multipart", `the multipart request is malformed: ${(err as Error).message}`));
      resolve();
    });
    bb.on("close", () => resolve());
    req.on("aborted", () => {
      fail(new ApiError(400, "aborted", "the upload was aborted"));
      resolve();
    });
  });
  req.pipe(bb);
  await finished;
  await Promise.allSettled(puts);
  if (!failure && stored.length === 0) fail(new ApiError(400, "no_files", `no file in the request; send it as ${limits.fileFields.join(" or ")}`));
  if (failure) {
    await discardUploads(store, stored);
    req.unpipe(bb);
    req.resume(); // drain what the client still sends so it gets our answer
    throw failure;
  }
  // Puts finish in any order; answer in the order the files were sent.
  return { fields, files: stored.sort((a, b) => a.position - b.position).map(({ position: _, ...f }) => f) };
}

export async function discardUploads(store: ObjectStore, files: StoredUpload[]) {
  await Promise.allSettled(files.map((f) => store.delete(bookObjectName(f.bookId))));
}
