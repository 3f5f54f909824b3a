// The library's HTTP answers as zod schemas: books, uploads, sources, search, quizzes and the
// legacy /rag endpoints. Like kernel/api-schemas.ts, the OpenAPI document is generated from them
// and the typed client parses with them; objects are loose so added fields break nobody.
import { z } from "zod";
import { dateTimeString, pageSchema, TaskAcceptedSchema, uuidString, type Known } from "../kernel/api-schemas.js";
import type { BookRecord, UploadedBookView } from "./books.js";
import type { SourceRecord } from "./sources.js";
import { TASK_STATUSES } from "../kernel/task.js";

/** A page of a cursor listing (books, sources): `nextCursor` is null on the last page. */
const cursorPageSchema = <T extends z.ZodType>(item: T) => pageSchema(item, { nextCursor: z.string().nullable().optional() });

/** A book's record (library/books.ts `BookRecord`, or `UploadedBookView` before it is processed). */
export const BookSchema = z.looseObject({
  bookId: z.string(),
  filename: z.string().optional(),
  contentType: z.string().optional(),
  /** Whose book it is (issue #11); books stored before tenants show none and are the default tenant's. */
  tenant: z.string().optional(),
  status: z.string(),
  pages: z.int().optional(),
  chunks: z.int().optional(),
  createdAt: dateTimeString.optional(),
  updatedAt: dateTimeString.optional(),
});
export type BookView = z.infer<typeof BookSchema>;

export const BookPageSchema = cursorPageSchema(BookSchema);
export type BookPage = z.infer<typeof BookPageSchema>;

/** One file of `POST /api/books`: a new book and its task, or the book that already had the bytes. */
export const UploadedBookSchema = z.looseObject({
  bookId: z.string(),
  filename: z.string(),
  contentType: z.string().optional(),
  size: z.int().optional(),
  taskId: z.string().nullable(),
  status: z.string().nullable(),
  statusUrl: z.string().nullable(),
  duplicate: z.boolean().optional(),
});
export const UploadedBooksSchema = z.looseObject({ books: z.array(UploadedBookSchema) });
export type UploadedBooks = z.infer<typeof UploadedBooksSchema>;

/** A registered source (library/sources.ts `SourceRecord`). */
export const SourceSchema = z.looseObject({
  id: uuidString,
  kind: z.enum(["http", "directory"]),
  name: z.string().optional(),
  createdAt: dateTimeString,
  lastSyncAt: dateTimeString.optional(),
  lastResult: z.looseObject({}).optional(),
});
export type SourceView = z.infer<typeof SourceSchema>;

/** `GET /api/sources/{id}`: the source with what its last sync saw of each document. */
export const SourceDetailSchema = SourceSchema.extend({ documents: z.array(z.looseObject({})).optional() });
export type SourceDetail = z.infer<typeof SourceDetailSchema>;

export const SourcePageSchema = cursorPageSchema(SourceSchema);
export type SourcePage = z.infer<typeof SourcePageSchema>;

/** `POST /api/sources/{id}/sync`: the sync_sources task queued. */
export const SourceSyncAcceptedSchema = TaskAcceptedSchema;

/** `GET /api/search`: the chunks nearest to the query, best first. */
export const SearchResultsSchema = z.looseObject({
  query: z.string().optional(),
  embedder: z.string().optional(),
  results: z.array(
    z.looseObject({
      score: z.number(),
      bookId: z.string(),
      chunkId: z.string(),
      page: z.int(),
      text: z.string(),
      title: z.string().optional(),
      section: z.string().optional(),
    }),
  ),
});
export type SearchResults = z.infer<typeof SearchResultsSchema>;

/** One question of a quiz, citing the chunk it came from (its text contains the answer). */
export const QuizQuestionSchema = z.looseObject({
  kind: z.enum(["cloze", "multiple_choice"]),
  question: z.string(),
  choices: z.array(z.string()),
  /** The correct choice's text; always one of `choices`. */
  answer: z.string(),
  answerIndex: z.number().int().nonnegative(),
  sourceChunkId: z.string(),
  /** 1-based page (PDF) or section number of that chunk. */
  page: z.number().int(),
  explanation: z.string().optional(),
});
export type QuizQuestion = z.infer<typeof QuizQuestionSchema>;

/** A generated quiz, as create_quiz stored it. */
export const QuizSchema = z.looseObject({
  quizId: z.string(),
  bookId: z.string(),
  /** The book's tenant; absent on quizzes stored before tenants (the default tenant's). */
  tenant: z.string().optional(),
  /** The create_quiz task that wrote it. */
  taskId: z.string(),
  /** Which generator wrote the questions: the extractive default or an LLM's name. */
  generator: z.string(),
  questions: z.array(QuizQuestionSchema),
  createdAt: z.string(),
});
export type Quiz = z.infer<typeof QuizSchema>;

/** `POST /rag/add-document` (the earlier Python service's shape). */
export const RagAddDocumentSchema = z.looseObject({
  status: z.enum(["queued", "duplicate"]),
  task_id: z.string().nullable(),
  book_id: z.string().optional(),
  duplicate: z.boolean().optional(),
});
export type RagAddDocument = z.infer<typeof RagAddDocumentSchema>;

/** `POST /rag/add-documents-batch`: one entry per file. */
export const RagAddDocumentsBatchSchema = z.array(
  z.looseObject({ task_id: z.string().nullable(), filename: z.string(), book_id: z.string().optional(), duplicate: z.boolean().optional() }),
);
export type RagAddDocumentsBatch = z.infer<typeof RagAddDocumentsBatchSchema>;

/** `GET /rag/task/{task_id}`: a task's status with Celery's state names. */
export const LegacyStatusSchema = z.looseObject({
  task_id: z.string(),
  status: z.enum(["PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED"]),
  state: z.enum(TASK_STATUSES),
  progress: z.looseObject({}).optional(),
  result: z.unknown().optional(),
  error: z.string().nullable().optional(),
});
export type LegacyStatus = z.infer<typeof LegacyStatusSchema>;

// Compile-time checks that the records the API answers with fit these schemas (see
// kernel/api-schemas.ts): a field whose type changes without its schema stops the build.
type Fits<View, Schema> = [View] extends [Known<Schema>] ? true : never; // bracketed: a union must fit as a whole
const viewsFit: [Fits<BookRecord, BookView>, Fits<UploadedBookView, BookView>, Fits<SourceRecord, SourceView>] = [true, true, true];
void viewsFit;
