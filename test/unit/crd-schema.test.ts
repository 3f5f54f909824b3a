// The CRDs in crds/ repeat what the kernel knows (task types, priorities, the REST create body's
// bounds); these checks fail when the two drift apart. The API server's own refusals are proven in
// test/e2e/crds.test.ts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { PRIORITIES } from "../../kernel/task.js";
import { TaskSpecSchema } from "../../kernel/task-queue.js";
import { documentTaskTypes } from "../../library/task-types.js";
import { CRDS_DIR } from "../support/cluster.js";

interface Schema {
  type?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  default?: unknown;
  required?: string[];
  properties?: Record<string, Schema>;
  items?: Schema;
}

function specSchema(file: string): Schema {
  // A plain YAML parser: client-node's loadYaml maps the document onto its models (enum → _enum).
  const crd = parse(readFileSync(join(CRDS_DIR, file), "utf8")) as { spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: Schema } }> } };
  expect(crd.spec.versions.map((v) => v.name)).toEqual(["v1alpha1"]);
  return crd.spec.versions[0]!.schema.openAPIV3Schema.properties!.spec!;
}

const taskTypes = documentTaskTypes().names();

describe("ProcessingTask CRD matches the kernel", () => {
  const spec = specSchema("processingtask.yaml");
  const field = (name: string) => spec.properties![name]!;
  const accepts = (body: object) => TaskSpecSchema.safeParse({ type: "sync_sources", ...body }).success;

  it("offers exactly the registered task types and the kernel's priorities, defaulting like the REST API", () => {
    expect([...field("type").enum!].sort()).toEqual([...taskTypes].sort());
    expect(field("priority").enum).toEqual([...PRIORITIES]);
    expect(field("priority").default).toBe(TaskSpecSchema.parse({ type: "sync_sources" }).priority);
  });

  it.each(["maxAttempts", "timeoutSeconds"])("bounds %s as TaskSpecSchema does", (name) => {
    const { minimum, maximum } = field(name);
    expect(field(name).type).toBe("integer");
    expect(accepts({ [name]: minimum })).toBe(true);
    expect(accepts({ [name]: minimum! - 1 })).toBe(false);
    expect(accepts({ [name]: maximum })).toBe(true);
    expect(accepts({ [name]: maximum! + 1 })).toBe(false);
  });

  it("requires a type and a payload object", () => {
    expect(spec.required).toEqual(["type", "payload"]);
    expect(field("payload").type).toBe("object");
  });
});

describe("WorkerPool CRD matches the kernel", () => {
  it("offers exactly the registered task types", () => {
    const items = specSchema("workerpool.yaml").properties!.taskTypes!.items!;
    expect([...items.enum!].sort()).toEqual([...taskTypes].sort());
  });
});
