// The kernel knows nothing of books: a kernel connection (what the operator and the CLI open)
// creates the queue's streams and buckets, never the library's; a program that serves the
// document pipeline adds them on top.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectJetq } from "../../kernel/connection.js";
import { loadKernelConfig } from "../../kernel/config.js";
import { openLibrary } from "../../library/connection.js";
import { LIBRARY_TOPOLOGY } from "../../library/topology.js";
import { startNatsServer, type NatsServerHandle } from "../../kit/nats-server.js";

describe("kernel connection", () => {
  let nats: NatsServerHandle;
  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(() => nats.stop());

  it("creates the queue's streams only; openLibrary adds the library's buckets, once", async () => {
    const config = loadKernelConfig({ NATS_URL: nats.url });
    const conn = await connectJetq(config.natsUrl, config.topology, { name: "kernel-only" });
    try {
      const streams = async () => {
        const names: string[] = [];
        for await (const s of conn.jsm.streams.names()) names.push(s);
        return names.sort();
      };
      const kernelStreams = await streams();
      expect(kernelStreams).toEqual(expect.arrayContaining(["JETQ_TASKS", "JETQ_DLQ", "JETQ_ADVISORIES", "KV_jetq-tasks", "KV_jetq-idempotency"]));
      const library = [`KV_${LIBRARY_TOPOLOGY.booksBucket}`, `KV_${LIBRARY_TOPOLOGY.sourcesBucket}`, `KV_${LIBRARY_TOPOLOGY.quizzesBucket}`, `OBJ_${LIBRARY_TOPOLOGY.uploadsBucket}`, `OBJ_${LIBRARY_TOPOLOGY.chunksBucket}`];
      for (const name of library) expect(kernelStreams).not.toContain(name);

      const lib = await openLibrary(conn);
      expect(await openLibrary(conn)).toBe(lib);
      expect(await streams()).toEqual(expect.arrayContaining(library));
      await lib.books.put("b", "{}");
      expect((await lib.books.get("b"))?.string()).toBe("{}");
      expect(lib.connected).toBe(true); // the kernel connection's live state shows through
    } finally {
      await conn.close();
    }
  });
});
