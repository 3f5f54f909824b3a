// GET /api/stats: arrivals, completions by outcome, p50/p95 completion time and the error rate over
// the last minutes, per minute too, from the counters every program keeps in NATS
// (kernel/task-stats.ts): exact however many tasks ran, one request to the server. Queue-wide, so
// for admins, like /api/tasks/queue.
import { Router } from "express";
import { z } from "zod";
import type { JetqConnection } from "../../kernel/connection.js";
import { readTaskStats, STATS_MAX_MINUTES } from "../../kernel/task-stats.js";
import { methodNotAllowed, parseQuery, queryInt } from "../http.js";

export const StatsQuery = z.object({
  minutes: queryInt(1, STATS_MAX_MINUTES, 5).describe("how many minutes back, the current one so far included"),
});

export function statsRouter(conn: JetqConnection): Router {
  const r = Router();
  r.route("/api/stats")
    .get(async (req, res) => {
      const q = parseQuery(StatsQuery, req);
      res.json(await readTaskStats(conn.jsm, q.minutes));
    })
    .all(methodNotAllowed("GET"));
  return r;
}
