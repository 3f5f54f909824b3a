// Multipart uploads streamed straight into the JetStream object store: busboy parses the request
// as it arrives and each file flows chunk by chunk into `ObjectStore.put`, which waits for every
// chunk's ack, so memory stays flat whatever the file size. Each file's sha-256 is computed on the
// way through (for duplicate detection). On any failure — a limit exceeded included, never a
// silent drop — the files already stored by this request are deleted: a rejected upload leaves
// nothing behind.
import { createHash, randomUUID } from "node:crypto";
import { Transform } from "node:stream";
import type { Request } from "express";
import busboy from "busboy";
import type { ObjectStore } from "@nats-io/obj";
import { bookObjectName, storeUpload } from "../library/books.js";
import { InvalidRequestError, JetqError, TooLargeError, UnavailableError, UnsupportedError } from "../kernel/errors.js";
import { sanitiseFilename } from "./file-names.js";

/** Most non-file form fields per request; more is a 413, not a silent drop. */
export const MAX_FORM_FIELDS = 50;
/** Largest value of a non-file form field, in bytes. */
export const MAX_FIELD_BYTES = 64 * 1024;
/** Longest form field name, in bytes. */
export const MAX_FIELD_NAME_BYTES = 200;

export interface UploadLimits {
  maxFileBytes: number;
  maxFiles: number;
  /** Form field names accepted for files; others are refused. */
  fileFields: string[];
}

export interface StoredUpload {
  bookId: string;
  field: string;
  /** The client's file name made safe to store and show (see sanitiseFilename). */
  filename: string;
  contentType: string;
  size: number;
  /** Hex sha-256 of the file's bytes. */
  sha256: string;
}

const tooLarge = (code: string, message: string) => new TooLargeError(code, message);

/** `tenant`: whose books the files become (the caller's, issue #11); it is stored with each upload. */
export async function receiveUploads(req: Request, store: ObjectStore, limits: UploadLimits, tenant: string): Promise<{ fields: Record<string, string>; files: StoredUpload[] }> {
  if (!req.is("multipart/form-data")) throw new UnsupportedError("unsupported_media_type", "send the files as multipart/form-data");
  let bb: busboy.Busboy;
  try {
    // defParamCharset: file names in the multipart headers are UTF-8 (busboy assumes latin1).
    bb = busboy({
      headers: req.headers,
      defParamCharset: "utf8",
      limits: {
        fileSize: limits.maxFileBytes,
        files: limits.maxFiles,
        fields: MAX_FORM_FIELDS,
        fieldSize: MAX_FIELD_BYTES,
        fieldNameSize: MAX_FIELD_NAME_BYTES,
        parts: MAX_FORM_FIELDS + limits.maxFiles,
      },
    });
  } catch (err) {
    throw new InvalidRequestError("malformed_multipart", `the multipart request is malformed: ${(err as Error).message}`);
  }

  const fields: Record<string, string> = {};
  const stored: (StoredUpload & { position: number })[] = [];
  let order = 0;
  const puts: Promise<void>[] = [];
  const inFlight = new Set<Transform>(); // files still flowing into the store
  let failure: Error | null = null;
  const fail = (err: Error) => (failure ??= err);

  const finished = new Promise<void>((resolve) => {
    bb.on("field", (name, value, info) => {
      if (info.nameTruncated) return fail(tooLarge("field_name_too_long", `a form field name is longer than the limit of ${MAX_FIELD_NAME_BYTES} bytes`));
      if (info.valueTruncated) return fail(tooLarge("field_too_large", `form field ${JSON.stringify(name)} is larger than the limit of ${MAX_FIELD_BYTES} bytes`));
      // A repeated field would make one of its values win silently.
      if (Object.hasOwn(fields, name)) return fail(new InvalidRequestError("duplicate_field", `form field ${JSON.stringify(name)} is given more than once`));
      fields[name] = value;
    });
    bb.on("fieldsLimit", () => fail(tooLarge("too_many_fields", `at most ${MAX_FORM_FIELDS} form fields per request`)));
    bb.on("partsLimit", () => fail(tooLarge("too_many_parts", `at most ${MAX_FORM_FIELDS + limits.maxFiles} parts (fields and files) per request`)));
    bb.on("file", (field, file, info) => {
      if (failure || !limits.fileFields.includes(field)) {
        if (!failure) fail(new InvalidRequestError("unexpected_field", `unexpected file field ${JSON.stringify(field)}; use ${limits.fileFields.join(" or ")}`));
        file.resume();
        return;
      }
      const bookId = randomUUID();
      const position = order++;
      const filename = sanitiseFilename(info.filename, `${bookId}.bin`);
      let size = 0;
      const hash = createHash("sha256");
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      file.on("limit", () => {
        const err = new TooLargeError("upload_too_large", `${filename} is larger than the limit of ${limits.maxFileBytes} bytes`);
        fail(err);
        counter.destroy(err);
      });
      file.pipe(counter);
      inFlight.add(counter);
      counter.once("close", () => inFlight.delete(counter));
      const contentType = sanitiseContentType(info.mimeType);
      puts.push(
        storeUpload(store, { bookId, filename, contentType, tenant }, counter)
          .then(() => {
            stored.push({ position, bookId, field, filename, contentType, size, sha256: hash.digest("hex") });
            if (size === 0) fail(new InvalidRequestError("empty_file", `${filename} is empty`));
          })
          .catch((err) => {
            fail(err instanceof JetqError ? err : new UnavailableError("store_failed", `could not store ${filename}: ${(err as Error).message}`));
            file.resume();
          }),
      );
    });
    bb.on("filesLimit", () => fail(new TooLargeError("too_many_files", `at most ${limits.maxFiles} files per request`)));
    bb.on("error", (err) => {
      fail(new InvalidRequestError("malformed_multipart", `the multipart request is malformed: ${(err as Error).message}`));
      resolve();
    });
    bb.on("close", () => resolve());
    // A client that goes away mid-file would leave that file's put waiting for bytes that never
    // come, its chunks stored without an object: end every file still flowing, so that each put
    // fails and purges what it stored.
    const aborted = () => {
      const err = new InvalidRequestError("aborted", "the upload was aborted");
      fail(err);
      for (const stream of inFlight) stream.destroy(err);
      resolve();
    };
    req.on("aborted", aborted);
    req.on("close", () => {
      if (!req.complete) aborted();
    });
  });
  req.pipe(bb);
  await finished;
  await Promise.allSettled(puts);
  if (!failure && stored.length === 0) fail(new InvalidRequestError("no_files", `no file in the request; send it as ${limits.fileFields.join(" or ")}`));
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

/** A content type as sent if it looks like one (`type/subtype`, parameters dropped), else the generic one. */
function sanitiseContentType(mimeType: string | undefined): string {
  const t = (mimeType ?? "").trim().toLowerCase();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/.test(t) ? t : "application/octet-stream";
}
