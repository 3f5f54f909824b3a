// The alert rules: promtool accepts them, and its unit tests (test/fixtures/chart/alert-rules.test.yaml)
// show each alert firing when it should and staying quiet when it should not.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REPO_ROOT } from "../support/cluster.js";
import { CHART_DIR, find, renderChart } from "../support/helm.js";
import { prometheusBin } from "../support/prometheus.js";

const RULES = join(CHART_DIR, "files", "alert-rules.yaml");
const RULE_TESTS = join(REPO_ROOT, "test", "fixtures", "chart", "alert-rules.test.yaml");

async function promtool(args: string[]): Promise<{ code: number; out: string }> {
  const bin = join(dirname(await prometheusBin()), "promtool");
  try {
    const { stdout, stderr } = await promisify(execFile)(bin, args, { cwd: REPO_ROOT, timeout: 60_000 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === "number" ? e.code : -1, out: `${e.stdout ?? ""}${e.stderr ?? e.message}` };
  }
}

const alerts = () => (parse(readFileSync(RULES, "utf8")) as { groups: Array<{ rules: Array<{ alert?: string }> }> }).groups.flatMap((g) => g.rules.map((r) => r.alert).filter((a): a is string => !!a));

describe("alert rules", () => {
  it("promtool check rules accepts them", { timeout: 120_000 }, async () => {
    const r = await promtool(["check", "rules", RULES]);
    expect(r.out).toContain("SUCCESS");
    expect(r.code, r.out).toBe(0);
  });

  it("cover the six conditions of the issue", () => {
    expect(alerts().sort()).toEqual(["JetqCompletionTimeOverObjective", "JetqDeadLetterQueueGrowing", "JetqErrorRateOverObjective", "JetqNatsUnreachable", "JetqNoOperatorLeader", "JetqQueueGrowingAtMaxReplicas"]);
  });

  it("promtool test rules passes, with a firing case for every alert", { timeout: 120_000 }, async () => {
    const tests = parse(readFileSync(RULE_TESTS, "utf8")) as { tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }> };
    const firing = new Set(tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    expect([...firing].sort()).toEqual(alerts().sort());
    const r = await promtool(["test", "rules", RULE_TESTS]);
    expect(r.out).toContain("SUCCESS");
    expect(r.code, r.out).toBe(0);
  });

  it("are what the chart's PrometheusRule carries", { timeout: 120_000 }, async () => {
    const objs = await renderChart(["--set", "metrics.prometheusRule.enabled=true", "--api-versions", "monitoring.coreos.com/v1/PrometheusRule"]);
    expect(find(objs, "PrometheusRule", "jetq").spec).toEqual(parse(readFileSync(RULES, "utf8")));
  });
});
