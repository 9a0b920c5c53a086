import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { once } from "node:events";
import { chmod, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { jetstreamManager } from "@nats-io/jetstream";
import { Svcm } from "@nats-io/services";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService, OrderStatus, type Order } from "../../gen/orders/v1/orders_pb.js";
import { ephemeralServicePorts, isolatedEnv, startLauncher, stillRunning, type LauncherProcess } from "../../tests/support/mesh-launcher.js";
import type { ServicesAnswer } from "./console-contract.js";
import { connectNats } from "../platform/events/index.js";
import { createLogger } from "../platform/process/index.js";
import { probeHealth } from "../platform/rpc/index.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { freePort } from "./ports.js";

// Layer 3: `npm start`'s launcher as a process with its own embedded PostgreSQL and nats-server, in a
// temporary data folder, on ports no developer's mesh uses (services on port 0, the banner says where).
describe("npm start (services/mesh launcher)", () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let running: LauncherProcess | undefined;
  let placed: Order;
  let firstToken: string;

  const token = (...args: string[]) => devToken(dataDir, ...args);
  let firstCa: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "ordermesh-mesh-test-"));
    // mkdtemp makes 0700; as root the cluster belongs to the "postgres" OS user, who must get through this folder.
    await chmod(dataDir, 0o755);
    env = {
      MESH_DATA_DIR: dataDir,
      MESH_POSTGRES_PORT: String(await freePort()),
      MESH_NATS_PORT: String(await freePort()),
      ...ephemeralServicePorts,
    };
  });

  // A test that failed half-way leaves its launcher running; the next start needs the ports and the data folder.
  async function stopLeftover(): Promise<void> {
    await running?.stop("SIGTERM");
    running = undefined;
  }

  afterAll(async () => {
    running?.kill();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("comes up with readable logs and takes a CreateOrder over Connect on the orders web port", async () => {
    running = await startLauncher(env);
    const output = running.output();
    expect(output).toContain("initialising a new cluster");
    // pino JSON turned into one readable line per record, prefixed by the service.
    expect(output).toMatch(/^\[shipping\]\s+\S+ INFO\s+listening grpcPort=\d+ webPort=\d+/m);
    expect(output).toMatch(/^\[orders\]\s+\S+ INFO\s+listening grpcPort=\d+/m);
    expect(output).toMatch(/^\[notifier\]\s+\S+ INFO\s+listening grpcPort=\d+/m);
    const caFile = join(dataDir, "tls", "ca.crt");
    expect(output).toContain(`grpcurl -cacert ${caFile} ${running.ordersGrpcAddr} list`);
    expect(output).toContain(`grpcurl -cacert ${caFile} -H "authorization: Bearer $(npm run -s token -- c-1)" -d '{}' ${running.ordersGrpcAddr} orders.v1.OrderService/ListOrders`);
    // The simulated carrier runs with the launcher's delays, and the banner says so.
    expect(output).toContain("carrier   simulated: pickup 20s after creation, delivery 40s after pickup");
    expect(output).toMatch(/^\[shipping\]\s+\S+ INFO\s+simulated carrier started/m);
    // The gRPC port is TLS by the dev CA: a client that trusts it needs no client certificate; plaintext fails.
    firstCa = await readFile(caFile, "utf8");
    expect(await probeHealth(running.ordersGrpcAddr, "", 5000, grpc.credentials.createSsl(Buffer.from(firstCa)))).toBe("SERVING");
    expect(await probeHealth(running.ordersGrpcAddr, "", 2000)).toMatch(/^error: UNAVAILABLE/);

    const { order } = await ordersClient(running.ordersWebUrl, await token("mesh-test", "--email", "mesh@example.com")).createOrder({
      customerId: "mesh-test",
      customerEmail: "mesh@example.com",
      items: [{ sku: "MESH-1", quantity: 3, unitPriceCents: 250n }],
      currency: "EUR",
      shippingAddress: { name: "Mesh Test", line1: "1 Test Street", city: "Berlin", postalCode: "10115", country: "DE" },
      requestId: "mesh-test-1",
    });
    expect(order?.totalCents).toBe(750n);
    expect(order?.status).not.toBe(OrderStatus.UNSPECIFIED);
    placed = order!;
    firstToken = await token("mesh-test");
    // Without --email a dev token vouches for <customer>@example.com, the address its orders confirm to.
    expect(decodeJwt(firstToken)).toMatchObject({ sub: "mesh-test", email: "mesh-test@example.com" });
    // --ttl reads durations like every other setting of the mesh; a bare number names no unit and is refused.
    const { iat, exp } = decodeJwt(await token("mesh-test", "--ttl", "15m"));
    expect(exp! - iat!).toBe(900);
    await expect(token("mesh-test", "--ttl", "90")).rejects.toThrow(/--ttl must be a duration like/);
  }, 90_000);

  it("stops every process it started on SIGINT and exits 0", async () => {
    const launcher = running!;
    const pids = launcher.descendants();
    // postgres (+ its backends), nats-server and the three services at least.
    expect(pids.length).toBeGreaterThanOrEqual(5);
    const exit = await launcher.stop("SIGINT");
    expect(exit).toEqual({ code: 0, signal: null });
    expect(stillRunning(pids)).toEqual([]);
    const output = launcher.output();
    // Services in reverse start order, then the database they were using.
    const stoppedAt = (source: string) => output.search(new RegExp(`^\\[${source}\\]\\s+\\S+ INFO\\s+stopped$`, "m"));
    const [notifier, orders, shipping] = ["notifier", "orders", "shipping"].map(stoppedAt);
    expect(notifier).toBeGreaterThan(0);
    expect(orders).toBeGreaterThan(notifier!);
    expect(shipping).toBeGreaterThan(orders!);
    expect(output.indexOf("database system is shut down")).toBeGreaterThan(shipping!);
    running = undefined;
  }, 60_000);

  it("reuses the data on the next start: the order is still there", async () => {
    await stopLeftover();
    running = await startLauncher(env);
    expect(running.output()).not.toContain("initialising a new cluster");
    // The same dev CA, so clients that trust it keep trusting the mesh.
    expect(await readFile(join(dataDir, "tls", "ca.crt"), "utf8")).toBe(firstCa);
    // The dev issuer's key is kept with the data, so a token minted before the restart still verifies.
    const client = ordersClient(running.ordersWebUrl, firstToken);
    const { order } = await client.getOrder({ id: placed.id });
    expect(order?.customerId).toBe("mesh-test");
    expect(order?.totalCents).toBe(750n);
    const { orders } = await client.listOrders({});
    expect(orders.map((o) => o.id)).toEqual([placed.id]);
    // Someone else sees neither the order nor the list; no token at all is UNAUTHENTICATED.
    const other = ordersClient(running.ordersWebUrl, await token("someone-else"));
    expect((await other.getOrder({ id: placed.id }).catch((e: unknown) => ConnectError.from(e))) as ConnectError).toMatchObject({ code: Code.NotFound });
    expect((await other.listOrders({ customerId: "mesh-test" }).catch((e: unknown) => ConnectError.from(e))) as ConnectError).toMatchObject({ code: Code.PermissionDenied });
    const anonymous = await ordersClient(running.ordersWebUrl).listOrders({}).catch((e: unknown) => ConnectError.from(e));
    expect(anonymous).toMatchObject({ code: Code.Unauthenticated, rawMessage: "missing bearer token" });
    const admin = ordersClient(running.ordersWebUrl, await token("ops", "--admin"));
    expect((await admin.listOrders({ customerId: "mesh-test" })).orders.map((o) => o.id)).toEqual([placed.id]);
    expect(await running.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    running = undefined;
  }, 90_000);

  it("starts afresh with --reset: the order is gone", async () => {
    await stopLeftover();
    running = await startLauncher(env, { args: ["--reset"] });
    expect(running.output()).toContain("--reset: deleting");
    expect(running.output()).toContain("initialising a new cluster");
    const err = await ordersClient(running.ordersWebUrl, await token("mesh-test"))
      .getOrder({ id: placed.id })
      .then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.NotFound);
    expect(await running.stop("SIGINT")).toEqual({ code: 0, signal: null });
    running = undefined;
  }, 90_000);
});

describe("npm start -- --replicas shipping=2,orders=2,notifier=2 --nats-cluster 3", () => {
  let dataDir: string;
  let launcher: LauncherProcess | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "ordermesh-mesh-replicas-"));
    await chmod(dataDir, 0o755);
  });

  afterAll(async () => {
    launcher?.kill();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("runs every replica on a 3-node JetStream cluster: an order is shipped and emailed, both shipping replicas answer pings, SIGINT stops all", async () => {
    const env = { MESH_DATA_DIR: dataDir, MESH_POSTGRES_PORT: String(await freePort()), MESH_NATS_PORT: String(await freePort()), ...ephemeralServicePorts };
    launcher = await startLauncher(env, { args: ["--replicas", "shipping=2,orders=2,notifier=2", "--nats-cluster", "3"], timeoutMs: 180_000 });
    const output = launcher.output();
    const instances = [...output.matchAll(/^\[mesh\]\s+((?:shipping|orders|notifier)-\d)\s+gRPC 127\.0\.0\.1:(\d+)/gm)].map((m) => m[1]);
    expect(instances).toEqual(["shipping-1", "shipping-2", "orders-1", "orders-2", "notifier-1", "notifier-2"]);
    const nodes = [...output.matchAll(/^\[mesh\]\s+(nats-\d)\s+nats:\/\/127\.0\.0\.1:(\d+) \(JetStream cluster node/gm)];
    expect(nodes.map((m) => m[1])).toEqual(["nats-0", "nats-1", "nats-2"]);
    expect(nodes.map((m) => m[2])).not.toContain("4222");
    const natsUrl = /the services get NATS_URL=(\S+) and STREAM_REPLICAS=3/.exec(output)?.[1];
    expect(natsUrl?.split(",")).toHaveLength(3);
    expect(output).toContain("orders reaches shipping at nats-service:///shipping");

    // The console lists every instance and node, each with its own health.
    const { services } = (await (await fetch(`${launcher.consoleUrl}/api/services`)).json()) as ServicesAnswer;
    expect(services.filter((p) => p.kind === "service").map((p) => [p.name, p.health])).toEqual(instances.map((name) => [name, "SERVING"]));
    expect(services.filter((p) => p.name.startsWith("nats")).map((p) => [p.name, p.health])).toEqual(nodes.map((m) => [m[1], "UP"]));

    const client = ordersClient(launcher.ordersWebUrl, await devToken(dataDir, "replica-test"));
    const { order } = await client.createOrder({
      items: [{ sku: "REPLICA-1", quantity: 1, unitPriceCents: 990n }],
      currency: "EUR",
      shippingAddress: { name: "Replica Test", line1: "2 Test Street", city: "Berlin", postalCode: "10115", country: "DE" },
      requestId: "replica-test-1",
    });
    // Shipped by a shipping replica found through discovery, and confirmed by a notifier replica.
    const shipped = await waitFor(async () => (await client.getOrder({ id: order!.id })).order?.shipment, { timeoutMs: 60_000, what: "the order's shipment" });
    expect(shipped.trackingNumber).not.toBe("");
    const emailDir = join(dataDir, "emails");
    await waitFor(async () => {
      const files = (await readdir(emailDir).catch(() => [])).filter((f) => f.endsWith(".eml"));
      const texts = await Promise.all(files.map((f) => readFile(join(emailDir, f), "utf8")));
      return texts.some((text) => text.includes(`Order #${order!.id} confirmed`));
    }, { timeoutMs: 60_000, what: "the confirmation .eml" });

    const nc = await connectNats(natsUrl!, createLogger("mesh-replicas-test", "warn"), "mesh-replicas-test");
    try {
      // What `nats micro ping shipping` lists: one answer per replica.
      const answers: { id: string }[] = [];
      for await (const answer of await new Svcm(nc as never).client().ping("shipping")) answers.push(answer);
      expect(new Set(answers.map((a) => a.id)).size).toBe(2);
      expect((await (await jetstreamManager(nc)).streams.info("ORDERS")).config.num_replicas).toBe(3);
    } finally {
      await nc.close();
    }

    const pids = launcher.descendants();
    // postgres and its backends, three nats-servers and six services at least.
    expect(pids.length).toBeGreaterThanOrEqual(10);
    expect(await launcher.stop("SIGINT")).toEqual({ code: 0, signal: null });
    expect(stillRunning(pids)).toEqual([]);
    launcher = undefined;
  }, 300_000);
});

describe("npm start without nats-server", () => {
  it("says in one line how to get it or where NATS_URL points, and exits 1", async () => {
    const launcher = spawn(process.execPath, ["dist/services/mesh/main.js"], {
      // A given database server, so no embedded PostgreSQL starts; it is never reached.
      env: { ...isolatedEnv(), NO_COLOR: "1", MESH_NATS_SERVER: "/nonexistent/nats-server", DATABASE_URL: "postgres://postgres@127.0.0.1:1/unused", WEB_PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    launcher.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    launcher.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(launcher, "close")) as [number | null];
    expect(code).toBe(1);
    const hint = output.split("\n").filter((line) => line.includes("nats-server not found"));
    expect(hint).toHaveLength(1);
    expect(hint[0]).toContain("apt-get install nats-server");
    expect(hint[0]).toContain("https://github.com/nats-io/nats-server/releases");
    expect(hint[0]).toContain("NATS_URL=");
  });
});

/** What `npm run -s token -- <args>` prints for the data folder: the compiled CLI, stdout only. */
async function devToken(dataDir: string, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ["dist/services/mesh/token.js", ...args], { env: { ...isolatedEnv(), MESH_DATA_DIR: dataDir } });
  expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
  return stdout.trim();
}

function ordersClient(baseUrl: string, bearer?: string) {
  const interceptors: Interceptor[] = bearer ? [(next) => (req) => (req.header.set("authorization", `Bearer ${bearer}`), next(req))] : [];
  return createClient(OrderService, createConnectTransport({ baseUrl, httpVersion: "1.1", defaultTimeoutMs: 10_000, interceptors }));
}
