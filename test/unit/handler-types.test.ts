// Handlers are typed by their task type's payload schema: the name → schema map the handlers are
// checked against is the registry's own, and a handler for another payload does not compile
// (`npx tsc` checks the @ts-expect-error below).
import { describe, expect, it } from "vitest";
import { documentTaskTypes } from "../../library/task-types.js";
import type { HandlerFor, HandlersFor, TaskContext } from "../../worker/handler.js";
import { DOCUMENT_PAYLOADS } from "../../worker/handlers/index.js";

describe("handlers typed by the registry", () => {
  it("types each handler with the very schema its task type is registered with", () => {
    const registry = documentTaskTypes();
    expect(Object.keys(DOCUMENT_PAYLOADS).sort()).toEqual(registry.names().sort());
    for (const [name, schema] of Object.entries(DOCUMENT_PAYLOADS)) expect(registry.get(name)?.payload).toBe(schema);
  });

  it("refuses, at compile time, a handler whose payload is not its type's", () => {
    const quiz: HandlerFor<typeof DOCUMENT_PAYLOADS.create_quiz> = async (ctx) => ctx.payload.questionCount ?? 10;
    const needsSource = async (ctx: TaskContext<{ sourceId: string }>) => ctx.payload.sourceId;
    const needsBook = async (ctx: TaskContext<{ bookId: string }>) => ctx.payload.bookId;
    const handlers: Partial<HandlersFor<typeof DOCUMENT_PAYLOADS>> = { create_quiz: quiz, generate_embeddings: needsBook };
    // @ts-expect-error generate_embeddings' payload has no sourceId
    handlers.generate_embeddings = needsSource;
    // @ts-expect-error sync_sources' payload has no bookId
    handlers.sync_sources = needsBook;
    expect(Object.keys(handlers)).toEqual(["create_quiz", "generate_embeddings", "sync_sources"]);
  });
});
