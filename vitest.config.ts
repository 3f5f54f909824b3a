import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration tests start real nats-server processes.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Separate processes so each file's servers die with it; at most 2 files
    // at once because CI machines have 2 cores.
    pool: "forks",
    poolOptions: {
      forks: { minForks: 1, maxForks: 2 },
    },
    reporters: ["default"],
  },
});
