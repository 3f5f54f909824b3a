// GET /api/books and GET /api/sources with 10,000 books and 10,000 sources stored: latency of the
// first page and of later pages (by offset and by cursor), and the consumers left on the buckets'
// streams afterwards. Starts its own nats-server and an API in a child process; the records are
// written straight into the KV buckets (as process_book and POST /api/sources would), pipelined.
// Run: npx tsx bench/listing.ts [--books 10000] [--sources 10000] [--requests 300]
import { randomUUID } from "node:crypto";
import { Agent, request } from "node:http";
import { parseArgs } from "node:util";
import type { BookRecord } from "../library/books.js";
import { loadConfig } from "../kit/config.js";
import { connectLibrary } from "../library/connection.js";
import type { SourceRecord } from "../library/sources.js";
import { TOPOLOGY } from "../kernel/topology.js";
import { startNatsServer } from "../kit/nats-server.js";
import { startApiProcess } from "../kit/upload-helpers.js";
import { latencySummary, now, pipelined } from "./lib.js";
import { LIBRARY_TOPOLOGY } from "../library/topology.js";

const { values: args } = parseArgs({ options: { books: { type: "string", default: "10000" }, sources: { type: "string", default: "10000" }, requests: { type: "string", default: "300" } } });
const BOOKS = Number(args.books);
const SOURCES = Number(args.sources);
const REQUESTS = Number(args.requests);

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function get(baseUrl: string, path: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    request(baseUrl + path, { agent }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString()) }));
    })
      .on("error", reject)
      .end();
  });
}

/** `REQUESTS` sequential GETs of `path`; the latency of each, in ms. */
async function measure(baseUrl: string, path: () => string) {
  const samples: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t = now();
    const res = await get(baseUrl, path());
    samples.push(now() - t);
    if (res.status !== 200) throw new Error(`${path()} answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
  return latencySummary(samples);
}

const nats = await startNatsServer();
const config = loadConfig({ NATS_URL: nats.url });
const conn = await connectLibrary(nats.url, config.topology, { name: "bench-listing" });
try {
  const t0 = now();
  const base = Date.UTC(2026, 0, 1);
  await pipelined(BOOKS, 256, async (i) => {
    const at = new Date(base + i * 1000).toISOString();
    const b: BookRecord = { bookId: randomUUID(), filename: `book-${i}.pdf`, contentType: "application/pdf", title: `Book ${i}`, format: "pdf", status: "ready", pages: 120, chunks: 300, characters: 360_000, contentHash: randomUUID().replace(/-/g, "").repeat(2), chunkSize: 1200, chunkOverlap: 200, createdAt: at, updatedAt: at };
    await conn.books.put(b.bookId, JSON.stringify(b));
  });
  await pipelined(SOURCES, 256, async (i) => {
    const s: SourceRecord = { kind: "http", name: `source ${i}`, urls: [`https://example.org/docs/${i}.html`], intervalSeconds: 86_400, id: randomUUID(), createdAt: new Date(base + i * 1000).toISOString() };
    await conn.sources.put(`src.${s.id}`, JSON.stringify(s));
  });
  const seeded = Math.round(now() - t0);

  const api = await startApiProcess(nats.url);
  try {
    const firstBooks = now();
    await get(api.baseUrl, "/api/books?limit=50");
    const buildBooks = Math.round(now() - firstBooks);
    const firstSources = now();
    await get(api.baseUrl, "/api/sources?limit=50");
    const buildSources = Math.round(now() - firstSources);

    const cursorAt = async (path: string, offset: number) => (await get(api.baseUrl, `${path}?limit=50&offset=${offset - 50}`)).body.nextCursor as string;
    const booksCursor = await cursorAt("/api/books", 7500);
    const sourcesCursor = await cursorAt("/api/sources", 7500);
    const results = {
      books: {
        firstPage: await measure(api.baseUrl, () => "/api/books?limit=50"),
        offset5000: await measure(api.baseUrl, () => "/api/books?limit=50&offset=5000"),
        cursorAt7500: await measure(api.baseUrl, () => `/api/books?limit=50&cursor=${booksCursor}`),
      },
      sources: {
        firstPage: await measure(api.baseUrl, () => "/api/sources?limit=50"),
        offset5000: await measure(api.baseUrl, () => "/api/sources?limit=50&offset=5000"),
        cursorAt7500: await measure(api.baseUrl, () => `/api/sources?limit=50&cursor=${sourcesCursor}`),
      },
    };
    const total = (await get(api.baseUrl, "/api/books?limit=1")).body.total;
    const consumers = {
      books: (await conn.jsm.streams.info(`KV_${LIBRARY_TOPOLOGY.booksBucket}`)).state.consumer_count,
      sources: (await conn.jsm.streams.info(`KV_${LIBRARY_TOPOLOGY.sourcesBucket}`)).state.consumer_count,
    };
    console.log(JSON.stringify({ books: BOOKS, sources: SOURCES, requestsPerCase: REQUESTS, seededMs: seeded, firstListingMs: { books: buildBooks, sources: buildSources }, totalListed: total, latencyMs: results, consumersAfter: consumers }, null, 2));
  } finally {
    await api.stop();
  }
} finally {
  agent.destroy();
  await conn.close();
  await nats.stop();
}
