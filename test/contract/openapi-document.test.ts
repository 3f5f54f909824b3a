// The points where the OpenAPI document and the server used to disagree (issue #7, item 10),
// pinned down one by one so a regression names itself without a fuzzing run.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { documentTaskTypes } from "../../library/task-types.js";
import { clientOf, startStack, type Stack } from "../support/stack.js";

describe("the OpenAPI document says what the server does", () => {
  let stack: Stack;
  let doc: any;
  beforeAll(async () => {
    stack = await startStack({ workers: 0, documents: true, registry: documentTaskTypes() });
    doc = await clientOf(stack).openapi();
  });
  afterAll(() => stack?.stop());

  it("documents maxAttempts up to the consumers' max_deliver, and the server takes exactly that", async () => {
    const maxDeliver = stack.config.topology.maxDeliver;
    expect(doc.components.schemas.MaxAttempts.maximum).toBe(maxDeliver);
    const at = await stack.api("POST", "/api/tasks", { type: "sync_sources", payload: {}, maxAttempts: maxDeliver });
    expect(at.status).toBe(202);
    const over = await stack.api("POST", "/api/tasks", { type: "sync_sources", payload: {}, maxAttempts: maxDeliver + 1 });
    expect(over.status).toBe(422);
    expect(over.body.error.details[0].path).toBe("maxAttempts");
  });

  it("refuses payload: null (the document says object); an absent payload is {} where the type allows it", async () => {
    const nul = await stack.api("POST", "/api/tasks", { type: "sync_sources", payload: null });
    expect(nul.status).toBe(400);
    expect(nul.body.error.details).toEqual([expect.objectContaining({ path: "payload" })]);
    const variants = doc.components.schemas.TaskCreate.oneOf as { title: string; required: string[] }[];
    expect(variants.find((v) => v.title === "sync_sources")!.required).toEqual(["type"]);
    expect(variants.find((v) => v.title === "process_book")!.required).toEqual(["type", "payload"]);
    expect((await stack.api("POST", "/api/tasks", { type: "sync_sources" })).status).toBe(202);
  });

  it("takes an empty string filter as no filter, and refuses integers that are not plain digits", async () => {
    for (const path of ["/api/tasks?type=", "/api/dlq?type=", "/api/search?q=x&bookId="]) {
      expect((await stack.api("GET", path)).status, path).toBe(200);
    }
    expect((await stack.api("DELETE", "/api/dlq?type=")).status).toBe(400); // still needs a type or all=true
    for (const limit of ["0x10", "1e2", "", " 5"]) {
      expect((await stack.api("GET", `/api/tasks?limit=${encodeURIComponent(limit)}`)).status, limit).toBe(400);
    }
  });

  it("lists the alias /api/tasks/{id}, a required file on every upload, and 503 wherever NATS is needed", () => {
    expect(doc.paths["/api/tasks/{id}"].get.responses["200"]).toBeDefined();
    const form = (path: string) => doc.paths[path].post.requestBody.content["multipart/form-data"].schema;
    expect(form("/api/books").required).toEqual(["files"]);
    expect(form("/rag/add-document").required).toEqual(["file"]);
    expect(form("/rag/add-documents-batch").required).toEqual(["files"]);
    for (const [path, ops] of Object.entries<Record<string, any>>(doc.paths)) {
      const needsNats = (path.startsWith("/api/") && path !== "/api/search") || path.startsWith("/rag/");
      for (const [method, op] of Object.entries(ops)) {
        if (needsNats) expect(op.responses["503"], `${method} ${path}`).toBeDefined();
        if (path.includes("{")) expect(op.responses["404"], `${method} ${path}`).toBeDefined();
        if (op.requestBody) expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(["400", "413", "415"]));
      }
    }
  });

  it("answers a JSON body sent as something else with 415 on every JSON operation", async () => {
    for (const path of ["/api/tasks", "/api/tasks/create", "/api/dlq/retry", "/api/sources"]) {
      const res = await fetch(stack.baseUrl + path, { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" });
      expect(res.status, path).toBe(415);
    }
  });

  it("documents the books, sources and DLQ queries as their routes read them: every edge it states holds", async () => {
    type Param = { name: string; in: string; schema: { type?: string; minimum?: number; maximum?: number; maxLength?: number; pattern?: string } };
    const listings = { "/api/books": ["limit", "offset", "cursor"], "/api/sources": ["limit", "offset", "cursor"], "/api/dlq": ["type", "tenant", "limit", "offset", "cursor"] };
    for (const [path, names] of Object.entries(listings)) {
      const params = doc.paths[path].get.parameters as Param[];
      expect(params.map((p) => p.name), path).toEqual(names);
      for (const { name, schema } of params) {
        const status = async (value: string) => (await stack.api("GET", `${path}?${name}=${encodeURIComponent(value)}`)).status;
        if (schema.type === "integer") {
          expect(await status(String(schema.maximum)), `${path} ${name}=max`).toBe(200);
          expect(await status(String(schema.maximum! + 1)), `${path} ${name}=max+1`).toBe(400);
          if (schema.minimum! > 0) expect(await status(String(schema.minimum! - 1)), `${path} ${name}=min-1`).toBe(400);
        }
        if (schema.maxLength) expect(await status("c".repeat(schema.maxLength + 1)), `${path} ${name} too long`).toBe(400);
        if (schema.pattern) {
          expect(new RegExp(schema.pattern).test(""), `${path} ${name}: empty is no filter`).toBe(true);
          expect(await status(""), `${path} ${name}=`).toBe(200);
          expect(new RegExp(schema.pattern).test("Not A Type")).toBe(false);
          expect(await status("Not A Type"), `${path} ${name}=Not A Type`).toBe(400);
        }
      }
    }
    // The bulk DELETE takes all as the route reads it, the words true and false; anything else is refused.
    const filter = doc.paths["/api/dlq"].delete.parameters[0].schema;
    expect(filter.properties.all).toEqual({ type: "string", enum: ["true", "false"] });
    expect((await stack.api("DELETE", "/api/dlq?all=true")).status).toBe(200);
    expect((await stack.api("DELETE", "/api/dlq?all=yes")).status).toBe(400);
    expect((await stack.api("DELETE", "/api/dlq?all=false")).status).toBe(400); // no type and not all: filter_required
  });
});
