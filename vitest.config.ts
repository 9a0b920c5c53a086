import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["services/**/*.test.ts", "tests/**/*.test.ts", "bench/**/*.test.ts"],
    // Tests share one real PostgreSQL and NATS; two workers keep a 2-core machine responsive.
    maxWorkers: 2,
    // Installs the Debian packages tests run (Chromium, nats-server) when missing, before any test starts.
    globalSetup: ["tests/setup/system-packages.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
