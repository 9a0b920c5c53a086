import { defaultEventStreamLimits } from "../platform/events/index.js";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../platform/process/index.js";
import { defaultCorsOrigins, defaultServerLimits } from "../platform/rpc/index.js";
import { loadShippingConfig } from "./config.js";

describe("loadShippingConfig", () => {
  it("uses the documented defaults", () => {
    expect(loadShippingConfig({ AUTH_DISABLED: "true" })).toEqual({
      bindHost: "127.0.0.1",
      grpcPort: 50052,
      webPort: 8082,
      metricsPort: 9465,
      telemetry: { enabled: false, serviceName: "shipping", reason: "no OTEL_EXPORTER_OTLP_ENDPOINT" },
      databaseUrl: "postgres://postgres@127.0.0.1:5432/shipping",
      databasePoolSize: 10,
      databaseStatementTimeoutMs: 5000,
      tls: { identity: undefined, ca: undefined, webPlaintext: false },
      auth: { disabled: true },
      authDisabled: true,
      limits: defaultServerLimits,
      corsOrigins: defaultCorsOrigins,
      reflection: true,
      natsUrl: "nats://127.0.0.1:4222",
      events: { stream: "SHIPPING", subjectPrefix: "shipping" },
      orderEvents: { stream: "ORDERS", subjectPrefix: "orders" },
      streamLimits: defaultEventStreamLimits,
      outboxRetentionMs: 3_600_000,
      outboxMaxAttempts: 50,
      carrier: { pickupAfterMs: undefined, deliverAfterMs: undefined },
    });
  });

  it("verifies customers' tokens for reads when AUTH_* is set, and needs none of it otherwise", () => {
    const tlsFiles = { TLS_CERT_FILE: "CERTIFICATE", TLS_KEY_FILE: "PRIVATE KEY", TLS_CA_FILE: "CERTIFICATE" };
    // Each path names the PEM block its stand-in file holds.
    const readFile = (path: string) => Buffer.from(`-----BEGIN ${path}-----`);
    const auth = { AUTH_JWKS_FILE: "/etc/jwks.json", AUTH_ISSUER: "https://issuer.example" };
    expect(loadShippingConfig({ ...tlsFiles, ...auth }, readFile).auth).toEqual({ disabled: false, jwksFile: "/etc/jwks.json", jwksUrl: undefined, issuer: "https://issuer.example", audience: "ordermesh" });
    expect(loadShippingConfig(tlsFiles, readFile).auth).toBeUndefined();
    expect(() => loadShippingConfig({ ...tlsFiles, AUTH_ISSUER: "https://issuer.example" }, readFile)).toThrow(/AUTH_JWKS_FILE or AUTH_JWKS_URL/);
  });

  it("refuses to start without the TLS files that identify orders, unless AUTH_DISABLED=true", () => {
    expect(() => loadShippingConfig({})).toThrow(/TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE .*AUTH_DISABLED=true/);
    expect(() => loadShippingConfig({ AUTH_DISABLED: "yes" })).toThrow(/AUTH_DISABLED must be "on" or "off"/);
  });

  it("reads every variable", () => {
    const config = loadShippingConfig({
      BIND_HOST: "0.0.0.0",
      SHIPPING_PORT: "0",
      SHIPPING_WEB_PORT: "off",
      SHIPPING_DATABASE_URL: "postgresql://u@db/ship",
      SHIPPING_DATABASE_POOL: "3",
      AUTH_DISABLED: "true",
      MAX_REQUEST_BYTES: "4096",
      CORS_ORIGINS: "https://shop.example",
      REFLECTION: "off",
      NATS_URL: "nats://nats-0:4222,nats://nats-1:4222, tls://nats-2:4222",
      STREAM_REPLICAS: "3",
      SHIPPING_EVENTS_STREAM: "SHIP_TEST",
      SHIPPING_EVENTS_SUBJECT_PREFIX: "ship_test",
      EVENTS_STREAM: "ORD_TEST",
      EVENTS_SUBJECT_PREFIX: "ord_test",
      OUTBOX_RETENTION_MS: "600000",
      OUTBOX_MAX_ATTEMPTS: "5",
      CARRIER_PICKUP_AFTER: "20s",
      CARRIER_DELIVER_AFTER: "1.5m",
    });
    expect(config).toMatchObject({
      bindHost: "0.0.0.0",
      grpcPort: 0,
      webPort: undefined,
      databaseUrl: "postgresql://u@db/ship",
      databasePoolSize: 3,
      limits: { ...defaultServerLimits, maxRequestBytes: 4096 },
      reflection: false,
      corsOrigins: ["https://shop.example"],
      natsUrl: "nats://nats-0:4222,nats://nats-1:4222, tls://nats-2:4222",
      streamLimits: expect.objectContaining({ replicas: 3 }),
      events: { stream: "SHIP_TEST", subjectPrefix: "ship_test" },
      orderEvents: { stream: "ORD_TEST", subjectPrefix: "ord_test" },
      outboxRetentionMs: 600_000,
      outboxMaxAttempts: 5,
      carrier: { pickupAfterMs: 20_000, deliverAfterMs: 90_000 },
    });
    expect(loadShippingConfig({ AUTH_DISABLED: "true", CARRIER_PICKUP_AFTER: "off", CARRIER_DELIVER_AFTER: "500ms" }).carrier).toEqual({ pickupAfterMs: undefined, deliverAfterMs: 500 });
  });

  it.each([
    ["SHIPPING_PORT", "abc"],
    ["SHIPPING_WEB_PORT", "99999"],
    ["SHIPPING_DATABASE_URL", "http://db/ship"],
    ["SHIPPING_DATABASE_POOL", "0"],
    ["CORS_ORIGINS", "*"],
    ["MAX_IN_FLIGHT_CALLS", "-1"],
    ["NATS_URL", "http://nats:4222"],
    ["NATS_URL", "nats://nats-0:4222,http://nats-1:4222"],
    ["STREAM_REPLICAS", "0"],
    ["STREAM_REPLICAS", "7"],
    ["OUTBOX_MAX_ATTEMPTS", "0"],
    ["CARRIER_PICKUP_AFTER", "20"],
    ["CARRIER_DELIVER_AFTER", "soon"],
  ])("rejects a bad %s with a ConfigError naming it", (name, value) => {
    expect(() => loadShippingConfig({ AUTH_DISABLED: "true", [name]: value })).toThrow(ConfigError);
    expect(() => loadShippingConfig({ AUTH_DISABLED: "true", [name]: value })).toThrow(name);
  });
});
