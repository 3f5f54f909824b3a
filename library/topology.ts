// The library's JetStream buckets: uploaded books, book records, their chunks, quizzes and
// sources. The kernel knows nothing of them; programs that serve the document pipeline (the API,
// the workers) ensure and open them on top of a kernel connection (library/connection.ts).
import { StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";

export const LIBRARY_TOPOLOGY = {
  uploadsBucket: "jetq-uploads",
  booksBucket: "jetq-books",
  chunksBucket: "jetq-chunks",
  quizzesBucket: "jetq-quizzes",
  sourcesBucket: "jetq-sources",
} as const;

/** Creates the library's buckets if they are missing (idempotent, like the kernel's topology). */
export async function ensureLibraryTopology(nc: NatsConnection, replicas: number): Promise<void> {
  const storage = StorageType.File;
  const kvm = new Kvm(nc);
  const objm = new Objm(nc);
  await objm.create(LIBRARY_TOPOLOGY.uploadsBucket, { storage, replicas, description: "uploaded books" });
  await kvm.create(LIBRARY_TOPOLOGY.booksBucket, { history: 1, storage, replicas });
  await objm.create(LIBRARY_TOPOLOGY.chunksBucket, { storage, replicas, description: "book chunks, JSON lines" });
  await kvm.create(LIBRARY_TOPOLOGY.quizzesBucket, { history: 1, storage, replicas });
  await kvm.create(LIBRARY_TOPOLOGY.sourcesBucket, { history: 1, storage, replicas });
}
