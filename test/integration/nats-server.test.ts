// Smoke test for the nats-server test helper: JetStream works and file
// storage survives a restart on the same port and store dir.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServerHandle } from "../../kit/nats-server.js";

describe("nats-server helper", () => {
  let server: NatsServerHandle | undefined;

  afterAll(async () => {
    await server?.stop();
  });

  it("starts JetStream and keeps streams across restart", async () => {
    server = await startNatsServer();

    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    const account = await jsm.getAccountInfo();
    expect(account.streams).toBe(0);
    await jsm.streams.add({ name: "SMOKE", subjects: ["smoke.>"] });
    await nc.close();

    await server.restart();

    const nc2 = await connect({ servers: server.url });
    try {
      const jsm2 = await jetstreamManager(nc2);
      const info = await jsm2.streams.info("SMOKE");
      expect(info.config.name).toBe("SMOKE");
      expect(info.config.subjects).toEqual(["smoke.>"]);
    } finally {
      await nc2.close();
    }
  });
});
