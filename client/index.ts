// jetq's typed client: `new JetqClient({ baseUrl })`, its error, and the answer types.
export { JetqClient, type CursorPageOptions, type DlqBulkFilter, type JetqClientOptions, type PageOptions, type TaskEvent, type TaskEventWithLogs, type TaskListOptions, type UploadFile, type UploadOptions, type WatchOptions } from "./jetq-client.js";
export { JetqClientError } from "./errors.js";
export type { DeadLetterPage, DeadLetterView, DlqDeleted, DlqRetried, ErrorBody, QueueSnapshotView, TaskAccepted, TaskDetailView, TaskLogLineView, TaskLogPage, TaskPage, TaskStatsView, TaskStatusView } from "../kernel/api-schemas.js";
export type { BookPage, BookView, LegacyStatus, Quiz, RagAddDocument, RagAddDocumentsBatch, SearchResults, SourceDetail, SourcePage, SourceView, UploadedBooks } from "../library/api-schemas.js";
export type { WhoAmI } from "../api/auth/whoami-schema.js";
