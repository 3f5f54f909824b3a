// The client's Server-Sent Events reader: messages split anywhere across chunks, CRLF or LF line
// ends, data over several lines, comments (keep-alives) skipped, ids carried.
import { describe, expect, it } from "vitest";
import { readSse } from "../../client/sse.js";

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const bytes = chunks.map((c) => new TextEncoder().encode(c));
  return new ReadableStream({
    pull(controller) {
      const next = bytes.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
}

async function all(chunks: string[]) {
  const out = [];
  for await (const m of readSse(streamOf(chunks))) out.push(m);
  return out;
}

describe("readSse", () => {
  it("reads events split across chunks, with ids, comments and multi-line data", async () => {
    const text = 'id: 3\nevent: status\ndata: {"a":1}\n\n: keep-alive\n\nid: 4\r\nevent: end\r\ndata: line one\r\ndata: line two\r\n\r\n';
    const expected = [
      { id: "3", event: "status", data: '{"a":1}' },
      { id: "4", event: "end", data: "line one\nline two" },
    ];
    expect(await all([text])).toEqual(expected);
    // Every split point, including inside a CRLF and inside a multi-byte character.
    for (let i = 1; i < text.length; i++) expect(await all([text.slice(0, i), text.slice(i)]), `split at ${i}`).toEqual(expected);
    expect(await all(["data: caf", "é ✓\n\n"])).toEqual([{ event: "message", data: "café ✓" }]);
    expect(await all(["data: cr only\r", "\r"])).toEqual([{ event: "message", data: "cr only" }]);
  });

  it("drops a message the stream ends before finishing", async () => {
    expect(await all(["event: status\ndata: {}\n\nevent: end\ndata: {"])).toEqual([{ event: "status", data: "{}" }]);
  });
});
