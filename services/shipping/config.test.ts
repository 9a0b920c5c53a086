import { describe, expect, it } from "vitest";
import { ConfigError } from "../platform/config.js";
import { defaultCorsOrigins, defaultServerLimits } from "../platform/server-limits.js";
import { loadShippingConfig } from "./config.js";

describe("loadShippingConfig", () => {
  it("uses the documented defaults", () => {
    expect(loadShippingConfig({})).toEqual({
      bindHost: "127.0.0.1",
      grpcPort: 50052,
      webPort: 8082,
      databaseUrl: "postgres://postgres@127.0.0.1:5432/shipping",
      databasePoolSize: 10,
      limits: defaultServerLimits,
      corsOrigins: defaultCorsOrigins,
    });
  });

  it("reads every variable", () => {
    const config = loadShippingConfig({
      BIND_HOST: "0.0.0.0",
      SHIPPING_PORT: "0",
      SHIPPING_WEB_PORT: "off",
      SHIPPING_DATABASE_URL: "postgresql://u@db/ship",
      SHIPPING_DATABASE_POOL: "3",
      MAX_REQUEST_BYTES: "4096",
      CORS_ORIGINS: "https://shop.example",
    });
    expect(config).toEqual({
      bindHost: "0.0.0.0",
      grpcPort: 0,
      webPort: undefined,
      databaseUrl: "postgresql://u@db/ship",
      databasePoolSize: 3,
      limits: { ...defaultServerLimits, maxRequestBytes: 4096 },
      corsOrigins: ["https://shop.example"],
    });
  });

  it.each([
    ["SHIPPING_PORT", "abc"],
    ["SHIPPING_WEB_PORT", "99999"],
    ["SHIPPING_DATABASE_URL", "http://db/ship"],
    ["SHIPPING_DATABASE_POOL", "0"],
    ["CORS_ORIGINS", "*"],
    ["MAX_IN_FLIGHT_CALLS", "-1"],
  ])("rejects a bad %s with a ConfigError naming it", (name, value) => {
    expect(() => loadShippingConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadShippingConfig({ [name]: value })).toThrow(name);
  });
});
