// Each program validates only the settings it reads: a wrong worker setting cannot stop the API,
// and every program still fails at start, by name, on a wrong setting of its own.
import { describe, expect, it } from "vitest";
import { loadApiProgramConfig } from "../../api/config.js";
import { ConfigError, loadKernelConfig } from "../../kernel/config.js";
import { loadLocalStackConfig } from "../../scripts/local-pool-config.js";
import { loadWorkerProgramConfig } from "../../worker/config.js";

const fails = (load: () => unknown, ...names: string[]) => {
  let error: unknown;
  try {
    load();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(ConfigError);
  for (const n of names) expect(String(error)).toContain(n);
};

describe("configuration by program", () => {
  const badWorker = { JETQ_CONCURRENCY: "lots", JETQ_PRIORITY_WEIGHTS: "1,2" };
  const badApi = { PORT: "eighty", JETQ_MAX_UPLOAD_FILES: "0" };

  it("the API ignores worker settings and refuses its own, by name", () => {
    expect(loadApiProgramConfig(badWorker).api.port).toBe(8080);
    fails(() => loadApiProgramConfig(badApi), "PORT", "JETQ_MAX_UPLOAD_FILES");
  });

  it("a worker ignores API settings and refuses its own, by name", () => {
    expect(loadWorkerProgramConfig(badApi).worker.concurrency).toBe(4);
    fails(() => loadWorkerProgramConfig(badWorker), "JETQ_CONCURRENCY", "JETQ_PRIORITY_WEIGHTS");
  });

  it("the kernel alone (operator, CLI) reads neither, nor the library's", () => {
    const k = loadKernelConfig({ ...badApi, ...badWorker, JETQ_CHUNK_SIZE: "tiny", JETQ_MAX_DELIVER: "3" });
    expect(k.topology.maxDeliver).toBe(3);
    expect(k).not.toHaveProperty("api");
    expect(k).not.toHaveProperty("documents");
    fails(() => loadKernelConfig({ JETQ_MAX_DELIVER: "0", NATS_URL: "" , LOG_LEVEL: "loud" }), "JETQ_MAX_DELIVER", "LOG_LEVEL");
  });

  it("every program shares the kernel's settings and fails on a wrong one", () => {
    for (const load of [loadApiProgramConfig, loadWorkerProgramConfig, loadLocalStackConfig]) {
      fails(() => load({ JETQ_ACK_WAIT_MS: "soon" }), "JETQ_ACK_WAIT_MS");
      expect(load({ JETQ_DEFAULT_TIMEOUT_S: "42" }).defaultTimeoutSeconds).toBe(42);
    }
    expect(loadWorkerProgramConfig({ JETQ_DEFAULT_TIMEOUT_S: "42" }).worker.defaultTimeoutSeconds).toBe(42);
  });
});
