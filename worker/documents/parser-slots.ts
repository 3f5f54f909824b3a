// How many documents one worker process reads at once. Each read is a thread whose heap may grow
// to JETQ_DOC_PARSER_HEAP_MB, so without a cap a worker's memory would be its concurrency times
// that; with it, JETQ_DOC_PARSER_THREADS times at most. A task waiting here still holds its slot
// and honours its abort signal.
export class ParserSlots {
  private busy = 0;
  private readonly waiting: (() => void)[] = [];

  /** Waits for a free slot (or the signal); returns the function that gives it back, once. */
  async acquire(limit: number, signal?: AbortSignal): Promise<() => void> {
    while (this.busy >= limit) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener("abort", wake);
          resolve();
        };
        this.waiting.push(wake);
        signal?.addEventListener("abort", wake, { once: true });
      });
    }
    signal?.throwIfAborted();
    this.busy++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.busy--;
      this.waiting.shift()?.();
    };
  }

  get inUse(): number {
    return this.busy;
  }
}

/** The process's slots: every document read in this process shares them. */
export const parserSlots = new ParserSlots();
