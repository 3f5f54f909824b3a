// A client that goes away in the middle of a file leaves nothing behind: the part of the file
// already stored is purged, so aborted uploads cannot fill the disk.
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LIBRARY_TOPOLOGY } from "../../library/topology.js";
import { clientOf, startStack, type Stack } from "../support/stack.js";
import { waitFor } from "../support/wait.js";

describe("an upload aborted mid-file", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ documents: true, workers: 0 });
  });
  afterAll(() => stack.stop());

  const storedMessages = async () => (await stack.conn.jsm.streams.info(`OBJ_${LIBRARY_TOPOLOGY.uploadsBucket}`)).state.messages;

  it("purges the chunks it had stored, and creates no book", async () => {
    const before = await storedMessages();
    const { port } = new URL(stack.baseUrl);
    const boundary = "----jetq-abort";
    const socket = connect({ host: "127.0.0.1", port: Number(port) });
    await new Promise<void>((r) => socket.once("connect", () => r()));
    socket.write(
      `POST /api/books HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${20 * 1024 * 1024}\r\n\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="half.txt"\r\nContent-Type: text/plain\r\n\r\n`,
    );
    const megabyte = Buffer.alloc(1024 * 1024, "a");
    for (let i = 0; i < 3; i++) await new Promise<void>((r) => socket.write(megabyte, () => r()));
    await waitFor("part of the file to be stored", async () => (await storedMessages()) > before, 30_000, 100);
    socket.destroy(); // the client goes away with 17 MB still to send

    await waitFor("the stored part to be purged", async () => (await storedMessages()) === before, 30_000, 200);
    expect((await clientOf(stack).books.list()).total).toBe(0);
  });
});
