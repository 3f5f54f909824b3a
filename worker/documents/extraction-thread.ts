// The extraction thread's entry: reads one document (detect, parse, normalise, chunk, within its
// limits) and streams its chunks to the worker. Whatever goes wrong here — a parser's exception,
// a stack overflow, memory exhaustion — ends this thread, never the worker process.
import { parentPort, workerData } from "node:worker_threads";
import { classifyExtractionError, toWire } from "./extraction-errors.js";
import { BATCH_CHARACTERS, BATCH_CHUNKS, BATCHES_IN_FLIGHT, type ExtractionJob, type ThreadMessage, type WorkerMessage } from "./extraction-protocol.js";
import type { Chunk } from "./document.js";
import { readDocument } from "./read-document.js";

const job = workerData as ExtractionJob;
const port = parentPort!;
const post = (message: ThreadMessage) => port.postMessage(message);

let credits = BATCHES_IN_FLIGHT;
let creditArrived: (() => void) | null = null;
port.on("message", (message: WorkerMessage) => {
  if (message.kind !== "credit") return;
  credits++;
  creditArrived?.();
});

async function sendBatch(chunks: Chunk[], stats: () => Extract<ThreadMessage, { kind: "chunks" }>["stats"]) {
  while (credits === 0) await new Promise<void>((resolve) => (creditArrived = resolve));
  creditArrived = null;
  credits--;
  post({ kind: "chunks", chunks, stats: stats() });
}

try {
  const reading = await readDocument(job.filePath, job.source, {
    ...job.chunking,
    limits: job.limits,
    onPart: (partNo, total) => post({ kind: "part", partNo, total }),
  });
  post({ kind: "info", info: reading.info });
  let batch: Chunk[] = [];
  let characters = 0;
  for await (const chunk of reading.chunks) {
    batch.push(chunk);
    characters += chunk.text.length;
    if (batch.length >= BATCH_CHUNKS || characters >= BATCH_CHARACTERS) {
      await sendBatch(batch, reading.stats);
      batch = [];
      characters = 0;
    }
  }
  if (batch.length > 0) await sendBatch(batch, reading.stats);
  post({ kind: "done", stats: reading.stats() });
} catch (err) {
  post({ kind: "error", error: toWire(classifyExtractionError(err, job.heapMb)) });
}
