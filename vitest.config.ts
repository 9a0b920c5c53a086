import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["services/**/*.test.ts", "tests/**/*.test.ts", "bench/**/*.test.ts"],
    // Tests share one real PostgreSQL and NATS; two workers keep a 2-core machine responsive.
    maxWorkers: 2,
    // Installs the Debian packages tests run (Chromium, nats-server) when missing, before any test starts.
    globalSetup: ["tests/setup/system-packages.ts"],
    // Processes that tests spawn declare their streams with these limits: JetStream reserves max_bytes
    // per stream on the shared server, and the 1 GiB default soon exhausts it (jetstream-fixture.ts).
    env: { EVENTS_MAX_BYTES: "8MiB", EVENTS_MAX_AGE: "1h", DEADLETTER_MAX_BYTES: "8MiB", DEADLETTER_MAX_AGE: "1h" },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
