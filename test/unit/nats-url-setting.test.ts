// NATS_URL takes one server or a cluster's servers, comma-separated; anything else stops the
// program at start, naming the variable. JETQ_REPLICAS is bounded by what JetStream keeps (5).
import { describe, expect, it } from "vitest";
import { ConfigError, isNatsServerAddress, loadKernelConfig } from "../../kernel/config.js";

const refusal = (env: Record<string, string>) => {
  try {
    loadKernelConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return String(err);
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
};

describe("NATS_URL", () => {
  it("takes a cluster's servers, comma-separated, trimmed", () => {
    expect(loadKernelConfig({ NATS_URL: " nats://10.0.0.1:4222, nats://10.0.0.2:4222 ,tls://nats-2.nats:4222," }).natsUrl).toBe("nats://10.0.0.1:4222,nats://10.0.0.2:4222,tls://nats-2.nats:4222");
    expect(loadKernelConfig({ NATS_URL: "127.0.0.1:4222" }).natsUrl).toBe("127.0.0.1:4222");
    expect(loadKernelConfig({}).natsUrl).toBe("nats://127.0.0.1:4222");
    expect(isNatsServerAddress("nats://user:secret@nats:4222")).toBe(true);
  });

  it("refuses what is not a NATS server address, by name", () => {
    for (const bad of ["http://nats:4222", "nats://", ",", "nats://nats:4222/path", "nats://a:4222 nats://b:4222", "nats://nats:port"]) {
      expect(refusal({ NATS_URL: bad }), bad).toContain("NATS_URL");
    }
  });
});

describe("JETQ_REPLICAS", () => {
  it("takes 1 to 5 copies", () => {
    expect(loadKernelConfig({ JETQ_REPLICAS: "3" }).topology.replicas).toBe(3);
    expect(refusal({ JETQ_REPLICAS: "0" })).toContain("JETQ_REPLICAS");
    expect(refusal({ JETQ_REPLICAS: "7" })).toContain("JETQ_REPLICAS");
  });
});
