// The Arrow shape of one collection's table (one row per point) and building a batch of rows
// straight into columns: one Float32Array holds every vector of the batch, so no per-row
// conversion happens on the way into LanceDB.
import { createRequire } from "node:module";
import type { FixedSizeList as FixedSizeListType, Float32 as Float32Type, Schema as SchemaType, Table as TableType } from "apache-arrow";
import { DEFAULT_TENANT } from "../../kernel/task.js";
import { normaliseL2 } from "./l2-normalise.js";
import type { VectorPoint } from "./vector-store.js";

// LanceDB is CommonJS and checks `instanceof` against its own copy of apache-arrow's classes:
// Arrow's ES module build would make other classes, so its CommonJS build is loaded here too.
const { Field, FixedSizeList, Float32, RecordBatch, Schema, Struct, Table, Utf8, makeData, vectorFromArray } = createRequire(import.meta.url)(
  "apache-arrow",
) as typeof import("apache-arrow");

export const TENANT_COLUMN = "tenant";

export function chunkTableSchema(dimensions: number): SchemaType {
  return new Schema([
    new Field("id", new Utf8(), false),
    new Field("bookId", new Utf8(), false),
    /** The whole ChunkPayload as JSON: parsed only for search hits. */
    new Field("payload", new Utf8(), false),
    new Field("vector", new FixedSizeList(dimensions, new Field("item", new Float32(), true)), false),
    /**
     * The point's tenant, DEFAULT_TENANT when its payload names none, so a tenant filter is one
     * equality on an indexed column. Last: where LanceCollection.open adds it to tables written
     * before tenants.
     */
    new Field(TENANT_COLUMN, new Utf8(), false),
  ]);
}

/**
 * Rows for `points`, each vector scaled to unit length (cosine similarity is then what the index
 * ranks by). Later points with the same id replace earlier ones: one row per id, as an upsert needs.
 */
export function chunkRows(points: VectorPoint[], dimensions: number): TableType {
  const last = new Map<string, VectorPoint>();
  for (const p of points) last.set(p.id, p);
  const unique = [...last.values()];
  const n = unique.length;
  const flat = new Float32Array(n * dimensions);
  unique.forEach((p, i) => flat.set(unitVector(p.vector, dimensions), i * dimensions));
  const schema = chunkTableSchema(dimensions);
  const vectorType = schema.fields[3]!.type as FixedSizeListType<Float32Type>;
  const vectors = makeData({ type: vectorType, length: n, nullCount: 0, child: makeData({ type: new Float32(), length: n * dimensions, data: flat }) });
  const strings = (values: string[]) => vectorFromArray(values, new Utf8()).data[0]!;
  const children = [
    strings(unique.map((p) => p.id)),
    strings(unique.map((p) => p.payload.bookId)),
    strings(unique.map((p) => JSON.stringify(p.payload))),
    vectors,
    strings(unique.map((p) => p.payload.tenant ?? DEFAULT_TENANT)),
  ];
  const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children }));
  return new Table(schema, [batch]);
}

/** A unit-length copy (the zero vector stays zero); rejects wrong sizes and non-finite values. */
export function unitVector(v: Float32Array, dimensions: number): Float32Array {
  if (v.length !== dimensions) throw new Error(`vector has ${v.length} dimensions, the collection ${dimensions}`);
  const out = new Float32Array(v);
  if (!Number.isFinite(normaliseL2(out))) throw new Error("vector has non-finite components");
  return out;
}
