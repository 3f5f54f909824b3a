// Reads an object store object without a consumer. `ObjectStore.get` creates an ephemeral push
// consumer per read that the server keeps for 5 minutes after the read ends, so every book
// processed, embedded or quizzed left one behind (measured: one per read on OBJ_<bucket>). The
// object's chunks are messages on `$O.<bucket>.C.<nuid>`; batched direct gets read them in order
// on demand (backpressure: a batch is fetched only when the reader wants more), and the size and
// sha-256 digest are checked as `ObjectStore.get` does.
import { createHash } from "node:crypto";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { ObjectInfo } from "@nats-io/obj";
import { isNoMessage } from "./kv-scan.js";

/** Chunks per direct-get batch: 8 of the store's 128 KiB chunks, about 1 MiB in memory at most. */
const CHUNKS_PER_BATCH = 8;

export interface ObjectRead {
  data: ReadableStream<Uint8Array>;
  /** Settles when the read ends: null, or the error the stream failed with. */
  error: Promise<Error | null>;
}

export function readObject(jsm: JetStreamManager, info: ObjectInfo): ObjectRead {
  const stream = `OBJ_${info.bucket}`;
  const subject = `$O.${info.bucket}.C.${info.nuid}`;
  const expected = digestHex(info.digest);
  const sha = createHash("sha256");
  let seq = 1;
  let read = 0;
  let settle!: (err: Error | null) => void;
  const error = new Promise<Error | null>((r) => (settle = r));

  const finish = (c: ReadableStreamDefaultController<Uint8Array>) => {
    const digest = sha.digest("hex");
    if (read !== info.size || (expected && digest !== expected)) {
      const err = new Error(`object ${info.name} is corrupt: read ${read} of ${info.size} bytes, sha-256 ${digest}, expected ${info.digest}`);
      c.error(err);
      settle(err);
    } else {
      c.close();
      settle(null);
    }
  };

  const data = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        if (read >= info.size) return finish(c);
        let got = 0;
        try {
          const batch = await jsm.direct.getBatch(stream, { seq, batch: CHUNKS_PER_BATCH, next_by_subj: subject });
          for await (const m of batch) {
            got++;
            seq = m.seq + 1;
            if (!m.data.length) continue;
            sha.update(m.data);
            read += m.data.length;
            c.enqueue(m.data);
          }
        } catch (err) {
          if (!isNoMessage(err)) {
            c.error(err);
            settle(err as Error);
            return;
          }
        }
        if (got === 0 || read >= info.size) finish(c);
      },
      cancel() {
        settle(null);
      },
    },
    { highWaterMark: 0 },
  );
  return { data, error };
}

/** The hex sha-256 in an object store digest (`SHA-256=<base64url>`), or null. */
export function digestHex(digest: string | undefined): string | null {
  const m = /^SHA-256=(.+)$/i.exec(digest ?? "");
  if (!m) return null;
  const bytes = Buffer.from(m[1]!, "base64"); // Node's base64 decoder also reads base64url
  return bytes.length === 32 ? bytes.toString("hex") : null;
}
