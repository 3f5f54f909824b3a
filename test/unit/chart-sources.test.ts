// The chart carries the repository's CRDs and RBAC, not copies that can drift: its crds/ are
// byte-identical to crds/, and the RBAC it renders grants exactly the rules of crds/rbac/.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { CRDS_DIR } from "../support/cluster.js";
import { CHART_DIR, find, renderChart } from "../support/helm.js";

const yamlFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();
const docs = (file: string) => parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS());

describe("the chart's CRDs", () => {
  it("are the repository's crds/*.yaml, byte for byte, and all of them", () => {
    expect(yamlFiles(join(CHART_DIR, "crds"))).toEqual(yamlFiles(CRDS_DIR));
    for (const f of yamlFiles(CRDS_DIR)) {
      expect(readFileSync(join(CHART_DIR, "crds", f)).equals(readFileSync(join(CRDS_DIR, f))), `charts/jetq/crds/${f} differs from crds/${f}: cp crds/*.yaml charts/jetq/crds/`).toBe(true);
    }
  });
});

describe("the chart's RBAC", () => {
  it("reads crds/rbac itself (files/rbac is a link to it)", () => {
    expect(readlinkSync(join(CHART_DIR, "files", "rbac"))).toBe("../../../crds/rbac");
  });

  it("renders exactly the rules of crds/rbac, bound to the chart's operator ServiceAccount in the release namespace", { timeout: 120_000 }, async () => {
    const objs = await renderChart([], "prod", "queue");
    const [clusterRole] = docs(join(CRDS_DIR, "rbac", "cluster-role.yaml"));
    const [leaseRole] = docs(join(CRDS_DIR, "rbac", "leader-election-role.yaml"));
    expect(find(objs, "ClusterRole", "queue-prod-jetq-operator").rules).toEqual(clusterRole.rules);
    expect(find(objs, "Role", "prod-jetq-operator-leader-election").rules).toEqual(leaseRole.rules);
    const subject = { kind: "ServiceAccount", name: "prod-jetq-operator", namespace: "queue" };
    expect(find(objs, "ClusterRoleBinding", "queue-prod-jetq-operator").subjects).toEqual([subject]);
    expect(find(objs, "ClusterRoleBinding", "queue-prod-jetq-operator").roleRef.name).toBe("queue-prod-jetq-operator");
    expect(find(objs, "RoleBinding", "prod-jetq-operator-leader-election").subjects).toEqual([subject]);
    expect(find(objs, "Deployment", "prod-jetq-operator").spec.template.spec.serviceAccountName).toBe("prod-jetq-operator");
    // Nothing beyond these: no role grants Secrets, ConfigMaps, or creating Deployments and pods.
    const granted = objs.filter((o) => o.kind === "ClusterRole" || o.kind === "Role").flatMap((o) => o.rules as Array<{ resources: string[]; verbs: string[] }>);
    expect(granted.flatMap((r) => r.resources)).not.toContain("secrets");
    expect(granted.flatMap((r) => r.resources)).not.toContain("configmaps");
    expect(granted.filter((r) => r.resources.includes("deployments") || r.resources.includes("pods")).flatMap((r) => r.verbs)).not.toContain("create");
  });
});
