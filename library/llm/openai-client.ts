// The OpenAI SDK client every OpenAI-compatible call goes through, with the SDK's own retries off:
// library/llm/retry-policy.ts decides what is retried, so the two never retry on top of each other.
import OpenAI from "openai";

export interface OpenAIClientOptions {
  /** e.g. http://localhost:11434/v1 for Ollama; the SDK's default (api.openai.com) when unset. */
  baseURL?: string;
  apiKey: string;
  /** Per-request time limit. */
  timeoutMs: number;
}

export function openAIClient(options: OpenAIClientOptions): OpenAI {
  return new OpenAI({ apiKey: options.apiKey, ...(options.baseURL ? { baseURL: options.baseURL } : {}), maxRetries: 0, timeout: options.timeoutMs });
}
