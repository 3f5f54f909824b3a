// A worker's id: JETQ_WORKER_ID, else POD_NAME (how the operator matches presence records to
// pods), else one made per Worker; a value that cannot be a presence key is refused at start.
// And what the pod runner gives a pod's worker: its selector query and its env.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../kernel/config.js";
import { loadWorkerProgramConfig } from "../../worker/config.js";
import { podEnv, selectorString } from "../support/pod-runner.js";

describe("worker id", () => {
  it("is JETQ_WORKER_ID, else POD_NAME, else unset (each Worker makes its own)", () => {
    expect(loadWorkerProgramConfig({ JETQ_WORKER_ID: "w-1", POD_NAME: "jetq-worker-5d9c-abcde" }).worker.workerId).toBe("w-1");
    expect(loadWorkerProgramConfig({ POD_NAME: "jetq-worker-5d9c-abcde" }).worker.workerId).toBe("jetq-worker-5d9c-abcde");
    expect(loadWorkerProgramConfig({ JETQ_WORKER_ID: "", POD_NAME: "" }).worker).not.toHaveProperty("workerId");
  });

  it("refuses an id that is no presence key, naming the variable", () => {
    for (const [name, value] of [["JETQ_WORKER_ID", "a worker"], ["JETQ_WORKER_ID", "w.*"], ["POD_NAME", ".hidden"], ["JETQ_WORKER_ID", "x".repeat(254)]] as const) {
      let error: unknown;
      try {
        loadWorkerProgramConfig({ [name]: value });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect(String(error)).toContain(name);
    }
  });
});

describe("pod runner helpers", () => {
  it("writes a Deployment's selector as a label selector query", () => {
    expect(selectorString({ matchLabels: { app: "jetq-worker", tier: "batch" } })).toBe("app=jetq-worker,tier=batch");
    expect(
      selectorString({
        matchExpressions: [
          { key: "pool", operator: "In", values: ["a", "b"] },
          { key: "env", operator: "NotIn", values: ["dev"] },
          { key: "jetq", operator: "Exists" },
          { key: "legacy", operator: "DoesNotExist" },
        ],
      }),
    ).toBe("pool in (a,b),env notin (dev),jetq,!legacy");
  });

  it("takes the first container's literal values and pod fields, and skips ConfigMaps and Secrets", () => {
    const env = podEnv({
      metadata: { name: "jetq-worker-abc", namespace: "jobs" },
      spec: {
        containers: [
          {
            name: "worker",
            env: [
              { name: "JETQ_CONCURRENCY", value: "8" },
              { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
              { name: "OPENAI_API_KEY", valueFrom: { secretKeyRef: { name: "openai", key: "key" } } },
            ],
          },
          { name: "sidecar", env: [{ name: "SIDECAR", value: "yes" }] },
        ],
      },
    });
    expect(env).toEqual({ JETQ_CONCURRENCY: "8", POD_NAMESPACE: "jobs" });
  });
});
