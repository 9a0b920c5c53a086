import { describe, expect, it } from "vitest";
import { ConfigError, readAuthConfig, readByteSize, readCorsOrigins, readDuration, readGrpcTarget, readHostPort, readOptionalPort, readPort, readPositiveInt, readSecretKey, readServerLimits, readString, readUrl } from "./config.js";
import { defaultServerLimits } from "../rpc/server-limits.js";

/** Asserts that reading throws a ConfigError naming the variable and quoting the bad value. */
function expectConfigError(read: () => unknown, variable: string, value: string): void {
  let error: unknown;
  try {
    read();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as Error).message).toContain(variable);
  expect((error as Error).message).toContain(`"${value}"`);
}

describe("readPort", () => {
  it("returns the default when unset or empty", () => {
    expect(readPort({}, "P", 50052)).toBe(50052);
    expect(readPort({ P: "" }, "P", 50052)).toBe(50052);
  });

  it.each([
    ["0", 0],
    ["1", 1],
    ["8082", 8082],
    ["65535", 65535],
  ])("accepts %s", (raw, port) => {
    expect(readPort({ P: raw }, "P", 1)).toBe(port);
  });

  it.each(["abc", "-1", "65536", "1.5", " ", " 80", "0x1F90", "8e3", "80abc"])("rejects %j naming the variable", (raw) => {
    expectConfigError(() => readPort({ SHIPPING_PORT: raw }, "SHIPPING_PORT", 1), "SHIPPING_PORT", raw);
  });
});

describe("readOptionalPort", () => {
  it('disables the listener with "off" or "-1"', () => {
    expect(readOptionalPort({ W: "off" }, "W", 8082)).toBeUndefined();
    expect(readOptionalPort({ W: "-1" }, "W", 8082)).toBeUndefined();
  });

  it("otherwise reads a port with its default", () => {
    expect(readOptionalPort({}, "W", 8082)).toBe(8082);
    expect(readOptionalPort({ W: "0" }, "W", 8082)).toBe(0);
    expectConfigError(() => readOptionalPort({ W: "on" }, "W", 8082), "W", "on");
  });
});

describe("readString", () => {
  it("returns the value, or the default when unset or empty", () => {
    expect(readString({ S: "x" }, "S", "d")).toBe("x");
    expect(readString({ S: "" }, "S", "d")).toBe("d");
    expect(readString({}, "S", "d")).toBe("d");
  });
});

describe("readUrl", () => {
  const schemes = ["postgres", "postgresql"];

  it("accepts the allowed schemes and returns the URL unchanged", () => {
    expect(readUrl({ U: "postgresql://u:p@db:5432/x" }, "U", "postgres://d/d", schemes)).toBe("postgresql://u:p@db:5432/x");
    expect(readUrl({}, "U", "postgres://127.0.0.1:5432/shipping", schemes)).toBe("postgres://127.0.0.1:5432/shipping");
  });

  it("rejects a malformed URL and a wrong scheme, naming the variable", () => {
    expectConfigError(() => readUrl({ DB_URL: "not a url" }, "DB_URL", "postgres://d/d", schemes), "DB_URL", "not a url");
    expectConfigError(() => readUrl({ DB_URL: "mysql://h/d" }, "DB_URL", "postgres://d/d", schemes), "DB_URL", "mysql://h/d");
  });
});

describe("readHostPort", () => {
  it.each(["127.0.0.1:50052", "localhost:1", "shipping.internal:65535", "[::1]:50052"])("accepts %s", (raw) => {
    expect(readHostPort({ A: raw }, "A", "x:1")).toBe(raw);
  });

  it("returns the default when unset", () => {
    expect(readHostPort({}, "A", "127.0.0.1:50052")).toBe("127.0.0.1:50052");
  });

  it.each(["localhost", ":50052", "host:", "host:65536", "host:port", "http://host:1", "::1:50052"])("rejects %j", (raw) => {
    expectConfigError(() => readHostPort({ SHIPPING_ADDR: raw }, "SHIPPING_ADDR", "x:1"), "SHIPPING_ADDR", raw);
  });
});

describe("readGrpcTarget", () => {
  it.each(["127.0.0.1:50052", "[::1]:50052", "dns:///shipping-headless.mesh.svc.cluster.local:50052", "dns:shipping:50052", "nats-service:///shipping"])("accepts %s", (raw) => {
    expect(readGrpcTarget({ A: raw }, "A", "x:1")).toBe(raw);
  });

  it.each(["shipping", "dns:///shipping", "dns:///:1", "nats-service:///", "nats-service://shipping", "nats-service:///a/b", "http://shipping:1", "unix:/tmp/s"])("rejects %j", (raw) => {
    expectConfigError(() => readGrpcTarget({ SHIPPING_ADDR: raw }, "SHIPPING_ADDR", "x:1"), "SHIPPING_ADDR", raw);
  });
});

describe("readPositiveInt", () => {
  it("reads positive integers with a default", () => {
    expect(readPositiveInt({}, "N", 10)).toBe(10);
    expect(readPositiveInt({ N: "" }, "N", 10)).toBe(10);
    expect(readPositiveInt({ N: "25" }, "N", 10)).toBe(25);
  });

  it.each(["0", "-2", "2.5", "ten", " ", "1e2", "99999999999999999999"])("rejects %j", (raw) => {
    expectConfigError(() => readPositiveInt({ POOL: raw }, "POOL", 10), "POOL", raw);
  });
});

describe("readAuthConfig", () => {
  const jwks = { AUTH_JWKS_FILE: "/etc/ordermesh/jwks.json", AUTH_ISSUER: "https://id.example.com/" };

  it("reads a JWKS file or URL, the issuer and the audience (default ordermesh)", () => {
    expect(readAuthConfig(jwks)).toEqual({ disabled: false, jwksFile: jwks.AUTH_JWKS_FILE, jwksUrl: undefined, issuer: jwks.AUTH_ISSUER, audience: "ordermesh" });
    expect(readAuthConfig({ AUTH_JWKS_URL: "https://id.example.com/jwks", AUTH_ISSUER: "x", AUTH_AUDIENCE: "shop" })).toMatchObject({ jwksUrl: "https://id.example.com/jwks", audience: "shop" });
  });

  it.each([
    ["nothing", {}],
    ["a JWKS without an issuer", { AUTH_JWKS_FILE: "/jwks.json" }],
    ["an issuer without keys", { AUTH_ISSUER: "x" }],
  ])("refuses %s in one line naming the variables", (_what, env) => {
    expect(() => readAuthConfig(env)).toThrow(ConfigError);
    expect(() => readAuthConfig(env)).toThrow(/^authentication is not configured: set AUTH_JWKS_FILE or AUTH_JWKS_URL, and AUTH_ISSUER \(or AUTH_DISABLED=true/);
  });

  it("is disabled only when told so, and refuses a value that is not a switch", () => {
    expect(readAuthConfig({ AUTH_DISABLED: "true" })).toEqual({ disabled: true });
    expect(() => readAuthConfig({ AUTH_DISABLED: "false" })).toThrow(/not configured/);
    expectConfigError(() => readAuthConfig({ AUTH_DISABLED: "yes" }), "AUTH_DISABLED", "yes");
    expectConfigError(() => readAuthConfig({ ...jwks, AUTH_JWKS_FILE: "", AUTH_JWKS_URL: "ftp://x" }), "AUTH_JWKS_URL", "ftp://x");
  });

  it("refuses both a JWKS file and a URL", () => {
    expect(() => readAuthConfig({ ...jwks, AUTH_JWKS_URL: "https://id.example.com/jwks" })).toThrow(/not both/);
  });
});

describe("readCorsOrigins (CORS_ORIGINS)", () => {
  it("defaults to the origins of the npm start web page", () => {
    expect(readCorsOrigins({})).toEqual(["http://127.0.0.1:8090", "http://localhost:8090"]);
  });

  it("reads a comma-separated list of exact origins", () => {
    expect(readCorsOrigins({ CORS_ORIGINS: "https://shop.example.com, http://localhost:5173" })).toEqual(["https://shop.example.com", "http://localhost:5173"]);
  });

  it.each(["*", "null", "https://shop.example.com/path", "shop.example.com", "ftp://x.example", "https://a.example,*"])("refuses %s, naming CORS_ORIGINS", (value) => {
    expect(() => readCorsOrigins({ CORS_ORIGINS: value })).toThrow(ConfigError);
    expect(() => readCorsOrigins({ CORS_ORIGINS: value })).toThrow(/CORS_ORIGINS/);
  });

  it("says why any origin is refused", () => {
    expect(() => readCorsOrigins({ CORS_ORIGINS: "*" })).toThrow(/"\*" \(any origin\) is not allowed/);
  });
});

describe("readServerLimits", () => {
  it("defaults to 1 MiB requests, 256 calls in flight, 100 streams, 1000 connections", () => {
    expect(readServerLimits({})).toEqual(defaultServerLimits);
    expect(defaultServerLimits).toMatchObject({ maxRequestBytes: 1_048_576, maxInFlightCalls: 256, maxConcurrentStreams: 100, maxConnections: 1000 });
  });

  it("reads each variable and names a bad one", () => {
    expect(readServerLimits({ MAX_REQUEST_BYTES: "2048", MAX_IN_FLIGHT_CALLS: "8", CONNECTION_IDLE_TIMEOUT_MS: "500" })).toMatchObject({ maxRequestBytes: 2048, maxInFlightCalls: 8, idleTimeoutMs: 500 });
    expectConfigError(() => readServerLimits({ MAX_IN_FLIGHT_CALLS: "0" }), "MAX_IN_FLIGHT_CALLS", "0");
    expectConfigError(() => readServerLimits({ MAX_REQUEST_BYTES: "1MB" }), "MAX_REQUEST_BYTES", "1MB");
  });
});

describe("readSecretKey", () => {
  const key32 = Buffer.alloc(32, 7).toString("base64");
  it("reads base64 of at least the given length; undefined when unset", () => {
    expect(readSecretKey({}, "K", 32)).toBeUndefined();
    expect(Buffer.from(readSecretKey({ K: key32 }, "K", 32)!)).toEqual(Buffer.alloc(32, 7));
  });

  it.each([Buffer.alloc(16, 1).toString("base64"), "not base64 at all!", "short"])("refuses %s, naming the variable, never echoing it", (value) => {
    let message = "";
    try {
      readSecretKey({ K: value }, "K", 32);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toContain("K must be at least 32 bytes");
    expect(message).not.toContain(value);
  });
});

describe("readDuration", () => {
  it.each([
    ["500ms", 500],
    ["0s", 0],
    ["30s", 30_000],
    ["1.5s", 1500],
    ["2m", 120_000],
    ["1h", 3_600_000],
    ["7d", 604_800_000],
  ])("reads %s as %i ms", (raw, ms) => {
    expect(readDuration({ D: raw }, "D", 1)).toBe(ms);
  });

  it("returns the default when unset or empty, and off (undefined) only where allowed", () => {
    expect(readDuration({}, "D", 250)).toBe(250);
    expect(readDuration({ D: "" }, "D", 250)).toBe(250);
    expect(readDuration({}, "D", undefined, { off: true })).toBeUndefined();
    expect(readDuration({ D: "off" }, "D", 1000, { off: true })).toBeUndefined();
    expectConfigError(() => readDuration({ CARRIER_X: "off" }, "CARRIER_X", 1000), "CARRIER_X", "off");
  });

  it.each(["30", "-1s", "1.s", "2 m", "1w", "s", "1e3ms", "30S"])("rejects %j naming the variable and the units", (raw) => {
    expectConfigError(() => readDuration({ CARRIER_PICKUP_AFTER: raw }, "CARRIER_PICKUP_AFTER", 1, { off: true }), "CARRIER_PICKUP_AFTER", raw);
    expect(() => readDuration({ D: raw }, "D", 1, { off: true })).toThrow(/like 500ms, 30s, 2m, 1h or 7d, or "off"/);
  });
});

describe("readByteSize", () => {
  it("reads bytes with an optional binary unit; the default when unset; undefined for off", () => {
    expect(readByteSize({}, "B", 42)).toBe(42);
    expect(readByteSize({ B: "off" }, "B", 42)).toBeUndefined();
    expect(readByteSize({ B: "1048576" }, "B", 1)).toBe(1_048_576);
    expect(readByteSize({ B: "512KiB" }, "B", 1)).toBe(524_288);
    expect(readByteSize({ B: "8MiB" }, "B", 1)).toBe(8 * 2 ** 20);
    expect(readByteSize({ B: "1GiB" }, "B", 1)).toBe(2 ** 30);
  });

  it.each(["0", "1MB", "1.5GiB", "-5", "8 MiB", "lots"])("refuses %j naming the variable", (raw) => {
    expectConfigError(() => readByteSize({ EVENTS_MAX_BYTES: raw }, "EVENTS_MAX_BYTES", 1), "EVENTS_MAX_BYTES", raw);
  });
});
