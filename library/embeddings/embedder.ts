// An Embedder turns texts into vectors. One file per implementation, behind this interface
// (the way KEDA keeps one scaler per file): the lexical default and OpenAI-compatible APIs.
export interface Embedder {
  /** Names the model and its settings; vectors from different names are not comparable. */
  readonly name: string;
  readonly dimensions: number;
  /** One vector per text, in order, each L2-normalised. */
  embed(texts: string[], signal?: AbortSignal): Promise<Float32Array[]>;
}
