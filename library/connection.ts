// A kernel connection with the library's buckets opened on it. The operator and the CLI connect
// to the kernel alone (kernel/connection.ts) and never create or open these.
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { connectJetq, type ConnectOptions, type JetqConnection } from "../kernel/connection.js";
import type { TopologyConfig } from "../kernel/config.js";
import { ensureLibraryTopology, LIBRARY_TOPOLOGY } from "./topology.js";

export interface LibraryConnection extends JetqConnection {
  uploads: ObjectStore;
  books: KV;
  chunks: ObjectStore;
  quizzes: KV;
  sources: KV;
}

const opened = new WeakMap<JetqConnection, Promise<LibraryConnection>>();

/** Ensures and opens the library's buckets on `conn`, once per connection. */
export function openLibrary(conn: JetqConnection): Promise<LibraryConnection> {
  let library = opened.get(conn);
  if (!library) {
    library = open(conn);
    opened.set(conn, library);
    library.catch(() => opened.delete(conn)); // a later call may try again
  }
  return library;
}

async function open(conn: JetqConnection): Promise<LibraryConnection> {
  await ensureLibraryTopology(conn.nc, conn.topology.replicas);
  const kvm = new Kvm(conn.js);
  const objm = new Objm(conn.js);
  const handles = {
    uploads: await objm.open(LIBRARY_TOPOLOGY.uploadsBucket),
    books: await kvm.open(LIBRARY_TOPOLOGY.booksBucket),
    chunks: await objm.open(LIBRARY_TOPOLOGY.chunksBucket),
    quizzes: await kvm.open(LIBRARY_TOPOLOGY.quizzesBucket),
    sources: await kvm.open(LIBRARY_TOPOLOGY.sourcesBucket),
  };
  // The kernel connection stays the prototype, so its live `connected` and its close() carry over.
  return Object.assign(Object.create(conn) as JetqConnection, handles);
}

/** Connects to NATS with the kernel's topology and the library's buckets. */
export async function connectLibrary(natsUrl: string, topology: TopologyConfig, opts: ConnectOptions): Promise<LibraryConnection> {
  return openLibrary(await connectJetq(natsUrl, topology, opts));
}
