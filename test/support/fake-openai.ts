// A small OpenAI-compatible HTTP server for tests. The real API is external and paid, so this is
// the one place a stand-in is right. It speaks the two endpoints jetq uses:
//   POST /v1/embeddings        deterministic vectors derived from each input's words (the lexical
//                              embedder's, so related texts stay related), honouring `dimensions`
//                              and `encoding_format` (float or base64)
//   POST /v1/chat/completions  a scripted reply: options.chat(requestBody) → the message content
// and it injects faults on request: failNext(n, {status: 429, retryAfter: "1"}) answers the next n
// requests with that status. Every request is logged with its time, body and answered status.
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { LexicalEmbedder } from "../../library/embeddings/lexical-embedder.js";

export interface FakeOpenAIRequest {
  method: string;
  path: string;
  /** Parsed JSON body (undefined when it was not JSON). */
  body: any;
  headers: Record<string, string | string[] | undefined>;
  /** Date.now() when the request arrived. */
  at: number;
  /** The status it was answered with. */
  status: number;
}

/** An error answer: e.g. {status: 429, retryAfter: "1"}, {status: 500}, {status: 400, message}. */
export interface FakeFault {
  status: number;
  /** Sent as the Retry-After header (seconds or an HTTP date). */
  retryAfter?: string;
  /** Sent as the retry-after-ms header. */
  retryAfterMs?: string;
  /** The error body's code, e.g. "insufficient_quota". */
  code?: string;
  message?: string;
}

export interface FakeOpenAIOptions {
  /** Vector size when a request does not ask for `dimensions`; 1536 (text-embedding-3-small's). */
  defaultDimensions?: number;
  /** Multiplies every vector, to check that clients re-normalise; 1 by default. */
  vectorScale?: number;
  /** The assistant message content for a chat completion request. */
  chat?: (body: any) => string | Promise<string>;
  /** Delay before answering each request, to test time limits and aborts. */
  delayMs?: number;
}

export interface FakeOpenAI {
  /** Ends in /v1, ready for `new OpenAI({ baseURL })`. */
  baseURL: string;
  requests: FakeOpenAIRequest[];
  failNext(n: number, fault: FakeFault): void;
  /** Forgets logged requests and pending faults (between tests). */
  reset(): void;
  close(): Promise<void>;
}

export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const requests: FakeOpenAIRequest[] = [];
  const faults: FakeFault[] = [];
  const embedders = new Map<number, LexicalEmbedder>();
  const embedderFor = (dims: number) => {
    let e = embedders.get(dims);
    if (!e) embedders.set(dims, (e = new LexicalEmbedder({ dimensions: dims })));
    return e;
  };

  const server = createServer(async (req, res) => {
    const at = Date.now();
    const raw = await readBody(req);
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    const entry: FakeOpenAIRequest = { method: req.method ?? "", path: (req.url ?? "").split("?")[0]!, body, headers: req.headers, at, status: 0 };
    requests.push(entry);
    const send = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(json));
    };
    if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    if (res.destroyed) return;

    const fault = faults.shift();
    if (fault) {
      const headers: Record<string, string> = {};
      if (fault.retryAfter !== undefined) headers["retry-after"] = fault.retryAfter;
      if (fault.retryAfterMs !== undefined) headers["retry-after-ms"] = fault.retryAfterMs;
      const type = fault.status === 429 ? "rate_limit_error" : fault.status >= 500 ? "server_error" : "invalid_request_error";
      return send(fault.status, { error: { message: fault.message ?? `injected ${fault.status}`, type, code: fault.code ?? null, param: null } }, headers);
    }

    if (req.method === "POST" && entry.path === "/v1/embeddings") {
      const inputs: unknown = body?.input;
      const list = typeof inputs === "string" ? [inputs] : inputs;
      if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === "string" && s.length > 0)) {
        return send(400, { error: { message: "'input' must be a non-empty string or array of non-empty strings", type: "invalid_request_error", code: null, param: "input" } });
      }
      const dims = body.dimensions ?? options.defaultDimensions ?? 1536;
      if (!Number.isInteger(dims) || dims < 1) {
        return send(400, { error: { message: "'dimensions' must be a positive integer", type: "invalid_request_error", code: null, param: "dimensions" } });
      }
      const scale = options.vectorScale ?? 1;
      const data = (list as string[]).map((text, index) => {
        const v = embedderFor(dims).embedOne(text).map((x) => x * scale);
        const embedding = body.encoding_format === "base64" ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") : Array.from(v);
        return { object: "embedding", index, embedding };
      });
      const tokens = (list as string[]).reduce((n, s) => n + Math.ceil(s.length / 4), 0);
      return send(200, { object: "list", data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
    }

    if (req.method === "POST" && entry.path === "/v1/chat/completions") {
      if (!options.chat) return send(404, { error: { message: "this fake has no chat script", type: "invalid_request_error", code: null, param: null } });
      const content = await options.chat(body);
      return send(200, {
        id: `chatcmpl-fake-${requests.length}`,
        object: "chat.completion",
        created: Math.floor(at / 1000),
        model: body?.model ?? "fake",
        choices: [{ index: 0, message: { role: "assistant", content, refusal: null }, finish_reason: "stop", logprobs: null }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
    }

    send(404, { error: { message: `no route ${req.method} ${entry.path}`, type: "invalid_request_error", code: null, param: null } });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    failNext(n, fault) {
      for (let i = 0; i < n; i++) faults.push(fault);
    },
    reset() {
      requests.length = 0;
      faults.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}
