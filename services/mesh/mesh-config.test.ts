import { describe, expect, it } from "vitest";
import { ConfigError } from "../platform/process/index.js";
import { loadMeshConfig } from "./mesh-config.js";

describe("loadMeshConfig", () => {
  it("defaults to embedded PostgreSQL on 54329, a local nats-server and .data in the project", () => {
    const config = loadMeshConfig([], {}, "/project");
    expect(config).toEqual({
      dataDir: "/project/.data",
      reset: false,
      databaseUrls: { shipping: undefined, orders: undefined, notifier: undefined },
      postgresPort: 54329,
      natsUrl: undefined,
      natsPort: undefined,
      webPort: 8090,
    });
  });

  it("gives each service its own database on a DATABASE_URL server, unless its own URL is set", () => {
    const config = loadMeshConfig([], { DATABASE_URL: "postgres://u:p@db:5432/ignored", ORDERS_DATABASE_URL: "postgres://o@other:5432/o" }, "/project");
    expect(config.databaseUrls).toEqual({
      shipping: "postgres://u:p@db:5432/shipping",
      orders: "postgres://o@other:5432/o",
      notifier: "postgres://u:p@db:5432/notifier",
    });
  });

  it("reads --reset, the ports and the data folder", () => {
    const config = loadMeshConfig(["--reset"], { MESH_DATA_DIR: "/tmp/x", MESH_POSTGRES_PORT: "5555", MESH_NATS_PORT: "4333", WEB_PORT: "off", NATS_URL: "nats://n:4222" }, "/project");
    expect(config).toMatchObject({ dataDir: "/tmp/x", reset: true, postgresPort: 5555, natsPort: 4333, webPort: undefined, natsUrl: "nats://n:4222" });
  });

  it("rejects unknown arguments and bad values naming them", () => {
    expect(() => loadMeshConfig(["--rest"], {}, "/p")).toThrow(/unknown argument --rest/);
    expect(() => loadMeshConfig([], { MESH_POSTGRES_PORT: "x" }, "/p")).toThrow(ConfigError);
    expect(() => loadMeshConfig([], { DATABASE_URL: "mysql://x" }, "/p")).toThrow(/DATABASE_URL/);
  });
});
