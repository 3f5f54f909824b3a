// Reads a KV bucket's current values without a consumer: batched direct gets on the bucket's
// stream (`KV_<bucket>`). `kv.keys()` and `kv.watch()` each create an ephemeral consumer that the
// server keeps for minutes after the client is done, so scanning with them on every request
// exhausts the stream's consumer limit; a direct get leaves nothing behind on the server.
import { JetStreamApiCodes, JetStreamApiError, JetStreamError, type JetStreamManager, type StoredMsg } from "@nats-io/jetstream";
import { isKvMarker } from "./kv-live.js";

/** A key's current value as stored on the bucket's stream. */
export interface ScannedEntry {
  key: string;
  /** The stream sequence of the value: the KV revision. */
  revision: number;
  value: Uint8Array;
  json<T>(): T;
}

export const kvStream = (bucket: string) => `KV_${bucket}`;
export const kvSubject = (bucket: string, key: string) => `$KV.${bucket}.${key}`;

const BATCH = 512;

/**
 * The current value of every key matching `keyFilter` (KV wildcards), read in batches from the
 * first sequence on. In a bucket with history 1 every message on the stream is its key's latest
 * value, so one pass sees each key; a key rewritten while we read moves to a later sequence and is
 * seen again there, and the later value wins.
 */
export async function scanKv(jsm: JetStreamManager, bucket: string, keyFilter = ">"): Promise<ScannedEntry[]> {
  const prefix = `$KV.${bucket}.`;
  const latest = new Map<string, ScannedEntry | null>();
  await forEachMessage(jsm, kvStream(bucket), prefix + keyFilter, (m) => {
    const key = m.subject.slice(prefix.length);
    latest.set(key, isKvMarker(m) ? null : { key, revision: m.seq, value: m.data, json: <T>() => m.json<T>() });
  });
  return [...latest.values()].filter((e): e is ScannedEntry => e !== null);
}

/** Calls `visit` for every message on `subject` in stream order, up to the stream's end. */
export async function forEachMessage(jsm: JetStreamManager, stream: string, subject: string, visit: (m: StoredMsg) => void, fromSeq = 1): Promise<void> {
  let seq = fromSeq;
  for (;;) {
    let got = 0;
    try {
      const batch = await jsm.direct.getBatch(stream, { seq, batch: BATCH, next_by_subj: subject });
      for await (const m of batch) {
        got++;
        seq = m.seq + 1;
        visit(m);
      }
    } catch (err) {
      if (isNoMessage(err)) return; // nothing (more) from `seq` on
      throw err;
    }
    // A batch may also be cut short by the server's byte limit: only an empty one is the end.
    if (got === 0) return;
  }
}

/**
 * The latest values of a few known keys in one request (a multi-last direct get); missing and
 * deleted keys are absent from the result (deleted ones are there, as their marker, with `markers`).
 */
export async function getMany(jsm: JetStreamManager, bucket: string, keys: string[], opts: { markers?: boolean } = {}): Promise<Map<string, ScannedEntry>> {
  const out = new Map<string, ScannedEntry>();
  if (keys.length === 0) return out;
  const prefix = `$KV.${bucket}.`;
  try {
    const batch = await jsm.direct.getLastMessagesFor(kvStream(bucket), { multi_last: keys.map((k) => prefix + k), batch: keys.length });
    for await (const m of batch) {
      if (isKvMarker(m) && !opts.markers) continue;
      const key = m.subject.slice(prefix.length);
      out.set(key, { key, revision: m.seq, value: m.data, json: <T>() => m.json<T>() });
    }
  } catch (err) {
    if (!isNoMessage(err)) throw err;
  }
  return out;
}

/** The server's "nothing there": the API's no-message error, or a direct get's 404 status. */
export function isNoMessage(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === JetStreamApiCodes.NoMessageFound;
  return err instanceof JetStreamError && (err as { code?: unknown }).code === 404;
}

const SUBJECT_BATCH = 256;

/**
 * The messages of `stream` on `subject` with sequences in [from, to), in order, no more than `max`:
 * batched direct gets by subject (the DLQ's pages, a task's log lines), nothing left on the server.
 */
export async function readSubjectRange(jsm: JetStreamManager, stream: string, subject: string, from: number, to: number, max = Infinity): Promise<StoredMsg[]> {
  const out: StoredMsg[] = [];
  let seq = from;
  while (seq < to && out.length < max) {
    let got = 0;
    let reachedEnd = false;
    try {
      for await (const m of await jsm.direct.getBatch(stream, { seq, batch: Math.min(SUBJECT_BATCH, to - seq, max - out.length), next_by_subj: subject })) {
        got++;
        if (m.seq >= to) reachedEnd = true;
        else out.push(m);
        seq = m.seq + 1;
      }
    } catch (err) {
      if (isNoMessage(err)) break;
      throw err;
    }
    if (got === 0 || reachedEnd) break;
  }
  return out;
}
