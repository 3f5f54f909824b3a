// The Grafana dashboard (charts/jetq/files/grafana-dashboard.json, importable as is and shipped in
// the chart's ConfigMap) shows what the issue asks for, against the two objectives.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CHART_DIR } from "../support/helm.js";

interface Panel {
  title: string;
  type: string;
  datasource?: { uid: string };
  targets?: Array<{ expr: string }>;
  fieldConfig?: { defaults?: { thresholds?: { steps: Array<{ value: number | null }> } } };
}
const dashboard = JSON.parse(readFileSync(join(CHART_DIR, "files", "grafana-dashboard.json"), "utf8")) as { uid: string; title: string; panels: Panel[]; templating: { list: Array<{ name: string; type: string }> } };
const panels = dashboard.panels.filter((p) => p.type !== "row");
const panelFor = (pattern: RegExp) => panels.find((p) => (p.targets ?? []).some((t) => pattern.test(t.expr)));

describe("the Grafana dashboard", () => {
  it("is importable anywhere: a stable uid and a Prometheus data source chosen by variable", () => {
    expect(dashboard.uid).toBe("jetq-overview");
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: "datasource", type: "datasource" }));
    for (const p of panels) expect(p.datasource?.uid, p.title).toBe("${datasource}");
  });

  it.each([
    ["queue depth by priority", /jetq_queue_depth_by_priority/],
    ["queue depth by type", /jetq_queue_depth_by_type/],
    ["arrival rate", /rate\(jetq_tasks_created_total/],
    ["completion rate", /rate\(jetq_task_completion_seconds_count/],
    ["p50 completion time", /histogram_quantile\(0\.50, .*jetq_task_completion_seconds_bucket/],
    ["p95 completion time", /histogram_quantile\(0\.95, .*jetq_task_completion_seconds_bucket/],
    ["p99 completion time", /histogram_quantile\(0\.99, .*jetq_task_completion_seconds_bucket/],
    ["error rate", /outcome="failed".*\/.*outcome=~"succeeded\|failed"/],
    ["DLQ depth", /jetq_dlq_depth/],
    ["worker utilisation", /jetq_workers?_utilisation/],
    ["desired replicas per WorkerPool", /jetq_operator_desired_replicas/],
    ["current replicas per WorkerPool", /jetq_operator_current_replicas/],
    ["operator leader", /jetq_operator_leader/],
  ])("shows %s", (_what, pattern) => {
    expect(panelFor(pattern)).toBeDefined();
  });

  it("draws the 10-minute and 1 % objectives on their panels", () => {
    const steps = (p: Panel | undefined) => (p?.fieldConfig?.defaults?.thresholds?.steps ?? []).map((s) => s.value);
    expect(steps(panelFor(/histogram_quantile\(0\.95/))).toContain(600);
    expect(steps(panelFor(/outcome="failed"/))).toContain(0.01);
  });
});
