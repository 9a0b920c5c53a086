import { describe, expect, it } from "vitest";
import { ConfigError } from "../platform/process/index.js";
import { loadMeshConfig, parseMeshArgs, parseReplicas } from "./mesh-config.js";

describe("loadMeshConfig", () => {
  it("defaults to embedded PostgreSQL on 54329, a local nats-server and .data in the project", () => {
    const config = loadMeshConfig([], {}, "/project");
    expect(config).toEqual({
      dataDir: "/project/.data",
      reset: false,
      replicas: { shipping: 1, orders: 1, notifier: 1 },
      natsCluster: undefined,
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
    expect(() => loadMeshConfig(["--rest"], {}, "/p")).toThrow(/Unknown option '--rest'/);
    expect(() => loadMeshConfig(["extra"], {}, "/p")).toThrow(ConfigError);
    expect(() => loadMeshConfig([], { MESH_POSTGRES_PORT: "x" }, "/p")).toThrow(ConfigError);
    expect(() => loadMeshConfig([], { DATABASE_URL: "mysql://x" }, "/p")).toThrow(/DATABASE_URL/);
  });

  it("reads a comma-separated NATS_URL (a cluster's servers) and checks each", () => {
    expect(loadMeshConfig([], { NATS_URL: "nats://a:4222,nats://b:4222" }, "/p").natsUrl).toBe("nats://a:4222,nats://b:4222");
    expect(() => loadMeshConfig([], { NATS_URL: "nats://a:4222,http://b" }, "/p")).toThrow(/NATS_URL/);
  });
});

describe("--replicas and --nats-cluster", () => {
  it("reads one list or several flags; unnamed services run once", () => {
    expect(parseMeshArgs(["--replicas", "shipping=2,orders=2,notifier=2"]).replicas).toEqual({ shipping: 2, orders: 2, notifier: 2 });
    expect(parseMeshArgs(["--replicas", "shipping=2", "--replicas", "orders=3"]).replicas).toEqual({ shipping: 2, orders: 3, notifier: 1 });
    expect(parseMeshArgs(["--replicas=notifier=8"]).replicas).toEqual({ shipping: 1, orders: 1, notifier: 8 });
    expect(parseMeshArgs([]).replicas).toEqual({ shipping: 1, orders: 1, notifier: 1 });
    expect(parseReplicas([" shipping = 2 "])).toEqual({ shipping: 2, orders: 1, notifier: 1 });
  });

  it("refuses an unknown service, a count out of 1 to 8, a duplicate and a malformed entry, naming it", () => {
    const refused = (...args: string[]) => {
      try {
        parseMeshArgs(args);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error(`accepted ${args.join(" ")}`);
    };
    expect(refused("--replicas", "payments=2")).toBe('--replicas: unknown service "payments" (one of shipping, orders, notifier)');
    expect(refused("--replicas", "shipping=0")).toBe('--replicas: shipping must be 1 to 8 replicas, got "0"');
    expect(refused("--replicas", "shipping=9")).toBe('--replicas: shipping must be 1 to 8 replicas, got "9"');
    expect(refused("--replicas", "shipping=two")).toBe('--replicas: shipping must be 1 to 8 replicas, got "two"');
    expect(refused("--replicas", "shipping=1.5")).toMatch(/shipping must be 1 to 8/);
    expect(refused("--replicas", "shipping=2,shipping=3")).toBe("--replicas: shipping is given twice");
    expect(refused("--replicas", "shipping=2", "--replicas", "shipping=2")).toBe("--replicas: shipping is given twice");
    expect(refused("--replicas", "shipping")).toBe('--replicas takes service=count[,service=count...], got "shipping"');
    expect(refused("--replicas", "shipping=2,")).toMatch(/--replicas takes service=count/);
    expect(refused("--replicas")).toMatch(/argument missing/);
  });

  it("reads --nats-cluster 3 to 5 and refuses it beside NATS_URL", () => {
    expect(loadMeshConfig(["--nats-cluster", "3", "--replicas", "shipping=2"], {}, "/p")).toMatchObject({ natsCluster: 3, replicas: { shipping: 2, orders: 1, notifier: 1 } });
    expect(parseMeshArgs(["--nats-cluster=5"]).natsCluster).toBe(5);
    expect(() => parseMeshArgs(["--nats-cluster", "2"])).toThrow(/--nats-cluster must be 3 to 5 nodes/);
    expect(() => parseMeshArgs(["--nats-cluster", "6"])).toThrow(/--nats-cluster must be 3 to 5 nodes/);
    expect(() => parseMeshArgs(["--nats-cluster", "x"])).toThrow(ConfigError);
    expect(() => loadMeshConfig(["--nats-cluster", "3"], { NATS_URL: "nats://n:4222" }, "/p")).toThrow(/--nats-cluster starts a local cluster; NATS_URL/);
  });

  it("reads --help and -h", () => {
    expect(parseMeshArgs(["--help"]).help).toBe(true);
    expect(parseMeshArgs(["-h"]).help).toBe(true);
    expect(parseMeshArgs(["--reset"])).toMatchObject({ help: false, reset: true });
  });
});
