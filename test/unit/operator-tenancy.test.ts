// A ProcessingTask's task belongs to a tenant chosen by the resource's namespace (issue #11):
// the namespace's own name by default, an explicit pair when given, `default` when turned off.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../kernel/config.js";
import { loadOperatorProgramConfig } from "../../operator/config.js";
import { tenantOfNamespace } from "../../operator/tasks/tenant-of-namespace.js";

const tenancyOf = (env: Record<string, string>) => loadOperatorProgramConfig(env).operator.tenancy;

describe("the tenant of a ProcessingTask's namespace", () => {
  it("is the namespace's name by default, and `default` for a resource without one", () => {
    const t = tenancyOf({});
    expect(t).toEqual({ fromNamespace: true, byNamespace: {} });
    expect(tenantOfNamespace(t, "team-a")).toBe("team-a");
    expect(tenantOfNamespace(t, "default")).toBe("default");
    expect(tenantOfNamespace(t, undefined)).toBe("default");
  });

  it("follows JETQ_NAMESPACE_TENANTS where it names the namespace, and JETQ_TENANT_FROM_NAMESPACE=off everywhere else", () => {
    const t = tenancyOf({ JETQ_TENANT_FROM_NAMESPACE: "off", JETQ_NAMESPACE_TENANTS: "ingest-prod=acme, ingest-staging=acme,research=globex" });
    expect(tenantOfNamespace(t, "ingest-prod")).toBe("acme");
    expect(tenantOfNamespace(t, "ingest-staging")).toBe("acme");
    expect(tenantOfNamespace(t, "research")).toBe("globex");
    expect(tenantOfNamespace(t, "team-a")).toBe("default");
    expect(tenantOfNamespace(t, "constructor")).toBe("default"); // a plain lookup, not the object's prototype
  });

  it("refuses a wrong value, naming the variable", () => {
    for (const env of [{ JETQ_TENANT_FROM_NAMESPACE: "yes" }, { JETQ_NAMESPACE_TENANTS: "ingest-prod:acme" }, { JETQ_NAMESPACE_TENANTS: "prod=Acme_Corp" }]) {
      const name = Object.keys(env)[0]!;
      expect(() => loadOperatorProgramConfig(env), name).toThrow(ConfigError);
      expect(() => loadOperatorProgramConfig(env), name).toThrow(name);
    }
  });
});
