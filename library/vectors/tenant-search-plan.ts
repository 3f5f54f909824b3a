// How the embedded store searches one tenant's rows of a shared table (issue #11).
//
// The tenants share one table per vector size, with a `tenant` column under a bitmap index (few
// distinct values, each a row set), rather than a table per tenant: one ANN index to train and
// fold instead of one per tenant, an admin's search across tenants stays one query, and a book
// deletion stays one delete. The price is that an IVF search filtered to a tenant only sees that
// tenant's rows in the partitions it probes: a tenant holding a fraction f of the rows finds about
// f × the candidates an unfiltered search does, and a small one may find fewer than k. So:
//   - a tenant whose rows are few is searched exactly: a flat scan of only its rows (the bitmap
//     index finds them), what a whole table gets below indexMinRows, and what a book search gets;
//   - a large one uses the index, probing nprobes / f partitions so it meets as many of its own
//     rows as an unfiltered search meets rows, unless that would cover most of the index: then the
//     flat scan of its rows costs about what the probes would, and is exact.

export type TenantSearchPlan = { exact: true } | { exact: false; nprobes: number };

/** More than this share of the partitions to probe: the tenant's exact scan is preferred. */
const MAX_PROBED_SHARE = 0.5;

export function tenantSearchPlan(o: {
  /** The tenant's rows. */
  tenantRows: number;
  /** Every row of the table. */
  totalRows: number;
  /** Partitions of the table's ANN index (while it has none, LanceDB scans whatever the plan). */
  partitions: number;
  /** Partitions an unfiltered search probes. */
  nprobes: number;
  /** The table size from which the store builds an ANN index at all. */
  indexMinRows: number;
}): TenantSearchPlan {
  if (o.tenantRows < o.indexMinRows || o.tenantRows <= 0) return { exact: true };
  const nprobes = Math.ceil((o.nprobes * Math.max(o.totalRows, o.tenantRows)) / o.tenantRows);
  if (nprobes > o.partitions * MAX_PROBED_SHARE) return { exact: true };
  return { exact: false, nprobes };
}

/** The IVF partitions the store trains for a table of this many rows (lance-collection.ts). */
export const partitionsFor = (rows: number) => Math.max(1, Math.round(Math.sqrt(rows)));
