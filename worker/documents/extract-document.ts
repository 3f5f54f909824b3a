// readDocument in a worker thread of its own, with a bounded heap: a document that overflows the
// stack, exhausts memory or throws from a callback ends that thread and fails its task, while the
// worker process — and every other task in it — carries on. Aborting the signal terminates the
// thread at once, even in the middle of a parser's synchronous loop.
import { Worker } from "node:worker_threads";
import { DEFAULT_PARSER_THREADS, DOCUMENT_LIMIT_SETTINGS, type DocumentLimits } from "../../library/document-limits.js";
import { documentError } from "./document-errors.js";
import { parserSlots } from "./parser-slots.js";
import type { ChunkingOptions } from "./chunker.js";
import type { Chunk } from "./document.js";
import { classifyExtractionError, fromWire } from "./extraction-errors.js";
import type { ExtractionJob, ThreadMessage, WorkerMessage } from "./extraction-protocol.js";
import type { DocumentReading, DocumentSource, ReadDocumentStats } from "./read-document.js";

export interface ExtractDocumentOptions extends ChunkingOptions {
  limits: DocumentLimits;
  /** The thread's old-generation heap limit (JETQ_DOC_PARSER_HEAP_MB). */
  heapMb: number;
  /** Documents this process reads at once (JETQ_DOC_PARSER_THREADS); others wait for a slot. */
  maxThreads?: number;
  onPart?: (partNo: number, total?: number) => void;
  signal?: AbortSignal;
}

export interface DocumentExtraction extends DocumentReading {
  /** Ends the thread if it still runs; call it whatever the outcome. */
  close(): Promise<void>;
}

// From source (tsx, vitest) the thread needs tsx registered first; compiled, the .js runs as is.
const fromSource = import.meta.url.endsWith(".ts");
const threadEntry = new URL(fromSource ? "./extraction-thread.ts" : "./extraction-thread.js", import.meta.url);
const tsBootstrap = new URL("./ts-thread-bootstrap.mjs", import.meta.url);

export async function extractDocument(filePath: string, source: DocumentSource, options: ExtractDocumentOptions): Promise<DocumentExtraction> {
  options.signal?.throwIfAborted();
  const job: ExtractionJob = {
    filePath,
    source,
    chunking: { chunkSize: options.chunkSize, chunkOverlap: options.chunkOverlap },
    limits: options.limits,
    heapMb: options.heapMb,
  };
  const release = await parserSlots.acquire(options.maxThreads ?? DEFAULT_PARSER_THREADS, options.signal);
  let thread: ExtractionThread;
  try {
    thread = new ExtractionThread(job, options.signal, release);
  } catch (err) {
    release();
    throw err;
  }
  try {
    const first = await thread.next();
    if (first.kind !== "info") throw new Error(`the extraction thread sent ${first.kind} before the document's info`);
    return {
      info: first.info,
      chunks: thread.chunks(options.onPart),
      stats: () => thread.stats,
      close: () => thread.close(),
    };
  } catch (err) {
    await thread.close();
    throw err;
  }
}

class ExtractionThread {
  stats: ReadDocumentStats = { parts: 0, chunks: 0, characters: 0 };
  private readonly worker: Worker;
  private readonly inbox: Exclude<ThreadMessage, { kind: "error" }>[] = [];
  private failure: Error | null = null;
  private exited = false;
  private wake: (() => void) | null = null;
  private readonly onAbort = () => this.fail(this.signal!.reason instanceof Error ? this.signal!.reason : new Error(String(this.signal!.reason)));

  constructor(
    private readonly job: ExtractionJob,
    private readonly signal: AbortSignal | undefined,
    /** Gives the process's parser slot back: when the thread has exited. */
    private readonly release: () => void,
  ) {
    const data = fromSource ? { ...job, entry: threadEntry.href } : job;
    this.worker = new Worker(fromSource ? tsBootstrap : threadEntry, {
      workerData: data,
      // The parent's loader flags are for the parent; the bootstrap registers what the thread needs.
      ...(fromSource ? { execArgv: [] } : {}),
      resourceLimits: { maxOldGenerationSizeMb: job.heapMb },
    });
    this.worker.on("message", (message: ThreadMessage) => {
      if (message.kind === "error") this.fail(fromWire(message.error));
      else this.deliver(message);
    });
    // An exception no code in the thread caught, or the thread's heap limit (ERR_WORKER_OUT_OF_MEMORY).
    this.worker.on("error", (err) => this.fail(classifyExtractionError(err, job.heapMb)));
    this.worker.on("exit", (code) => {
      this.exited = true;
      this.release();
      this.fail(new Error(`the document extraction thread exited (code ${code}) before it finished`));
    });
    signal?.addEventListener("abort", this.onAbort, { once: true });
  }

  /**
   * The next message, in order; throws the thread's failure once everything before it is taken.
   * While we wait the thread holds credit, so silence means it is stuck on one part: past
   * maxPartSeconds the document is too complex, and the thread is ended.
   */
  async next(): Promise<Exclude<ThreadMessage, { kind: "error" }>> {
    for (;;) {
      const message = this.inbox.shift();
      if (message) return message;
      if (this.failure) throw this.failure;
      const seconds = this.job.limits.maxPartSeconds;
      const stuck = setTimeout(() => {
        this.fail(documentError("document_too_complex", `reading one part of the document took more than ${seconds} s (${DOCUMENT_LIMIT_SETTINGS.maxPartSeconds}): it is too complex to read`));
        if (!this.exited) void this.worker.terminate();
      }, seconds * 1000);
      try {
        await new Promise<void>((resolve) => (this.wake = resolve));
      } finally {
        clearTimeout(stuck);
      }
    }
  }

  async *chunks(onPart?: (partNo: number, total?: number) => void): AsyncIterable<Chunk> {
    try {
      for (;;) {
        const message = await this.next();
        if (message.kind === "part") onPart?.(message.partNo, message.total);
        else if (message.kind === "chunks") {
          this.stats = message.stats;
          this.post({ kind: "credit" });
          yield* message.chunks;
        } else if (message.kind === "done") {
          this.stats = message.stats;
          return;
        }
      }
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    this.signal?.removeEventListener("abort", this.onAbort);
    if (!this.exited) await this.worker.terminate();
  }

  private deliver(message: Exclude<ThreadMessage, { kind: "error" }>) {
    // After a failure (an abort, say) nothing more from the thread counts.
    if (this.failure) return;
    this.inbox.push(message);
    this.wakeUp();
  }

  private fail(err: Error) {
    // The first failure is the cause; the exit that follows it is only its consequence.
    if (!this.failure) this.failure = err;
    if (err === this.signal?.reason || this.signal?.aborted) {
      this.inbox.length = 0; // aborted: stop at once rather than drain what the thread sent
      if (!this.exited) void this.worker.terminate();
    }
    this.wakeUp();
  }

  private post(message: WorkerMessage) {
    if (!this.exited) this.worker.postMessage(message);
  }

  private wakeUp() {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
