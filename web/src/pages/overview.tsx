// Overview: depth by priority and type, arrival and completion rates, completion time against the
// 10-minute objective, the error rate against 1 %, workers' slots, WorkerPools (as the operator
// last reconciled them) and the DLQ, updated live.
import { useRef } from "preact/hooks";
import { Sparkline } from "../components/sparkline.js";
import { fmtDuration, fmtPercent } from "../format.js";
import { describeError, usePoll } from "../live.js";
import { loadQueueState, type QueueState } from "../queue-state.js";
import { roleAllows, type Session } from "../session.js";
import { loadWindowStats, type WindowStats } from "../window-stats.js";

/** The objectives the overview measures against (the SPEC's). */
const COMPLETION_OBJECTIVE_MS = 10 * 60_000;
const ERROR_OBJECTIVE = 0.01;
const HISTORY = 60;

/** The last HISTORY values of each series, kept while the page is open: one per poll (its stamp). */
function useHistory() {
  const ref = useRef(new Map<string, { values: number[]; stamp: unknown }>());
  return (name: string, value: number | null | undefined, stamp: number | undefined) => {
    let series = ref.current.get(name);
    if (!series) ref.current.set(name, (series = { values: [], stamp: undefined }));
    if (value !== null && value !== undefined && stamp !== undefined && series.stamp !== stamp) {
      series.values.push(value);
      if (series.values.length > HISTORY) series.values.shift();
      series.stamp = stamp;
    }
    return series.values;
  };
}

export function Overview({ session }: { session: Session }) {
  const { client, me } = session;
  const queue = usePoll<QueueState & { at: number }>(async () => ({ ...(await loadQueueState(client, me.role)), at: Date.now() }), 2_000, [client]);
  const isAdmin = roleAllows(me.role, "admin");
  // An admin gets the server's counters (every task, exact); anyone else what their own tenant's
  // listing shows, counted here.
  const stats = usePoll<WindowStats & { at: number }>(
    async () => ({ ...(isAdmin ? { ...(await client.stats({ minutes: 5 })), truncated: false } : await loadWindowStats(client)), at: Date.now() }),
    4_000,
    [client, isAdmin],
  );
  const pools = usePoll(async () => (isAdmin ? (await client.pools()).items : []), 4_000, [client, isAdmin]);
  const history = useHistory();
  const q = queue.data;
  const s = stats.data;
  const perMin = (n: number | undefined) => (s && n !== undefined ? n / (s.windowMs / 60_000) : undefined);

  const depth = history("depth", q?.depth, q?.at);
  const arrivals = history("arrivals", perMin(s?.arrivals), s?.at);
  const completions = history("completions", perMin(s?.completions), s?.at);
  const p95 = history("p95", s?.p95Ms, s?.at);
  const errors = history("errors", s?.errorRate, s?.at);
  const byPriority = ["high", "normal", "low"].map((p) => ({ p, series: history(`prio-${p}`, q?.byPriority[p] ?? 0, q?.at) }));

  return (
    <main id="main">
      <h1>Overview</h1>
      {queue.error && (
        <p role="alert" class="error">
          Queue state: {describeError(queue.error)}
        </p>
      )}
      <section aria-labelledby="queue-h" class="panel">
        <h2 id="queue-h">Queue</h2>
        <div class="cards">
          <Sparkline label="Depth (waiting + in flight)" values={depth} valueText={q ? String(q.depth) : "—"} />
          {byPriority.map(({ p, series }) => (
            <Sparkline key={p} label={`Priority ${p}`} values={series} valueText={q ? String(q.byPriority[p] ?? 0) : "—"} />
          ))}
        </div>
        <dl class="facts" data-testid="queue-facts">
          <div>
            <dt>In flight</dt>
            <dd data-testid="in-flight">{q ? q.inFlight : "—"}</dd>
          </div>
          <div>
            <dt>Dead letters</dt>
            <dd data-testid="dlq-depth">{q ? q.deadLettered : "—"}</dd>
          </div>
          <div>
            <dt>Workers busy / slots</dt>
            <dd data-testid="worker-slots">{q ? `${q.workers.busy} / ${q.workers.slots}` : "—"}</dd>
          </div>
        </dl>
        <h3>Depth by type</h3>
        {q && Object.keys(q.byType).length > 0 ? (
          <table class="table" data-testid="depth-by-type">
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col">Tasks</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(q.byType)
                .sort((a, b) => b[1] - a[1])
                .map(([type, n]) => (
                  <tr key={type}>
                    <td>{type}</td>
                    <td>{n}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        ) : (
          <p class="muted">Nothing queued.</p>
        )}
        {q?.source === "metrics" && <p class="muted">The full queue view needs the admin role; these numbers come from the public /metrics.</p>}
      </section>

      <section aria-labelledby="rates-h" class="panel">
        <h2 id="rates-h">Throughput and objectives</h2>
        {stats.error && (
          <p role="alert" class="error">
            Rates: {describeError(stats.error)}
          </p>
        )}
        <div class="cards">
          <Sparkline label="Arrivals / min" values={arrivals} valueText={s ? perMin(s.arrivals)!.toFixed(1) : "—"} />
          <Sparkline label="Completions / min" values={completions} valueText={s ? perMin(s.completions)!.toFixed(1) : "—"} />
          <Sparkline label="p95 completion (objective 10 min)" values={p95} target={COMPLETION_OBJECTIVE_MS} valueText={s ? fmtDuration(s.p95Ms) : "—"} />
          <Sparkline label="Error rate (objective 1 %)" values={errors} target={ERROR_OBJECTIVE} valueText={s ? fmtPercent(s.errorRate) : "—"} />
        </div>
        {s && (
          <p class="muted" data-testid="window-summary">
            Last {Math.round(s.windowMs / 60_000)} min: {s.arrivals} arrived, {s.completions} finished ({s.succeeded} succeeded, {s.failed} failed); p50 {fmtDuration(s.p50Ms)}, p95 {fmtDuration(s.p95Ms)}
            {s.p95Ms !== null && (s.p95Ms <= COMPLETION_OBJECTIVE_MS ? " — within the objective" : " — over the 10-minute objective")}
            {s.errorRate !== null && (s.errorRate <= ERROR_OBJECTIVE ? "; errors within 1 %" : "; errors over 1 %")}
            {s.truncated && " (counted over the newest 2,000 tasks only)"}.
          </p>
        )}
      </section>

      <section aria-labelledby="workers-h" class="panel">
        <h2 id="workers-h">Workers</h2>
        {q && q.workers.list.length > 0 ? (
          <table class="table" data-testid="workers">
            <thead>
              <tr>
                <th scope="col">Worker</th>
                <th scope="col">Pool</th>
                <th scope="col">Busy / slots</th>
              </tr>
            </thead>
            <tbody>
              {q.workers.list.map((w) => (
                <tr key={w.id}>
                  <td class="mono wrap">{w.id}</td>
                  <td>{w.pool}</td>
                  <td>
                    {w.busy} / {w.slots}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p class="muted">No worker is reporting.</p>
        )}
        <h3>WorkerPools</h3>
        {!isAdmin ? (
          <p class="muted">WorkerPools (desired and current replicas) are shown to admins.</p>
        ) : pools.error ? (
          <p role="alert" class="error">
            WorkerPools: {describeError(pools.error)}
          </p>
        ) : pools.data && pools.data.length > 0 ? (
          <table class="table" data-testid="pools">
            <thead>
              <tr>
                <th scope="col">Pool</th>
                <th scope="col">Desired / current</th>
                <th scope="col">Min–max</th>
                <th scope="col">Depth (source)</th>
              </tr>
            </thead>
            <tbody>
              {pools.data.map((p) => (
                <tr key={`${p.namespace}/${p.name}`}>
                  <td class="wrap">
                    {p.namespace}/{p.name} <span class="muted">→ {p.deployment}</span>
                  </td>
                  <td data-testid="pool-replicas">
                    {p.desiredReplicas} / {p.currentReplicas}
                  </td>
                  <td>
                    {p.minReplicas}–{p.maxReplicas}
                  </td>
                  <td>
                    {p.depth} ({p.depthSource})
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p class="muted" data-testid="pools-empty">No operator has reported a WorkerPool in the last minute (it publishes each pool it scales).</p>
        )}
        {!roleAllows(me.role, "admin") && <p class="muted">Signed in as {me.role}.</p>}
      </section>
    </main>
  );
}
