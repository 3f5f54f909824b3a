// The task handlers this worker image ships, by task type. The document pipeline's handlers
// (process_book, generate_embeddings, sync_sources, create_quiz) are registered here.
import type { TaskHandler } from "../handler.js";

export function documentHandlers(): Map<string, TaskHandler> {
  return new Map();
}
