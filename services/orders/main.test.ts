import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../mesh/ports.js";
import { startServiceProcess, type ServiceProcess } from "../../tests/support/service-process.js";
import { createTestDatabase, type TestDatabase } from "../../tests/support/test-database.js";

// Layer 3: the compiled orders process and its auth configuration at start.
let testDb: TestDatabase;
let proc: ServiceProcess | undefined;

beforeAll(async () => {
  testDb = await createTestDatabase("orders_process");
});
afterEach(() => {
  proc?.kill();
  proc = undefined;
});
afterAll(async () => testDb?.drop());

describe("orders process authentication config", () => {
  const base = async () => ({
    ORDERS_PORT: "0",
    ORDERS_WEB_PORT: "off",
    ORDERS_DATABASE_URL: testDb.url,
    // Nothing listens there: the event side keeps retrying in the background, which these tests do not need.
    NATS_URL: `nats://127.0.0.1:${await freePort()}`,
    LOG_LEVEL: "info",
  });

  it("refuses to start without AUTH_* and says so in one line naming the variables", async () => {
    proc = startServiceProcess("services/orders/main.js", { ...(await base()), AUTH_JWKS_FILE: "", AUTH_JWKS_URL: "", AUTH_ISSUER: "", AUTH_DISABLED: "" });
    expect((await proc.exited).code).toBe(1);
    const fatal = proc.logs.filter((l) => l.level === 60);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.msg).toMatch(/^failed to start: .*AUTH_JWKS_FILE or AUTH_JWKS_URL, and AUTH_ISSUER.*AUTH_DISABLED=true/);
    expect(fatal[0]!.msg).not.toContain("\n");
    expect(proc.logs.some((l) => l.msg === "listening")).toBe(false);
  });

  it("serves without tokens when AUTH_DISABLED=true, and warns about it at start", async () => {
    proc = startServiceProcess("services/orders/main.js", { ...(await base()), AUTH_DISABLED: "true" });
    await proc.waitForLog((l) => l.msg === "listening", "the listening log line");
    const warning = proc.logs.find((l) => l.level === 40 && typeof l.msg === "string" && l.msg.includes("AUTH_DISABLED=true"));
    expect(warning).toBeDefined();
    expect((await proc.stop("SIGTERM")).code).toBe(0);
  });
});
