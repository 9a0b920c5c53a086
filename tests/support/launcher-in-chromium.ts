import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { chromium, type Browser, type Page } from "playwright-core";
import { freePort } from "../../services/mesh/ports.js";
import { openOrdersDatabase } from "../../services/orders/db/open-database.js";
import type * as ordersSchema from "../../services/orders/db/schema.js";
import type { Database } from "../../services/platform/db/index.js";
import { connectNats, type NatsConnection } from "../../services/platform/events/index.js";
import { createLogger } from "../../services/platform/process/index.js";
import { chromiumPath } from "../setup/system-packages.js";
import { ephemeralServicePorts, startLauncher, type LauncherProcess } from "./mesh-launcher.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

/** Where screenshots and the mesh's log of the browser tests go. */
export const screenshots = "test-results";

/** `npm start` on this test's databases with a nats-server of its own, and a page in Debian's Chromium. */
export interface LauncherInChromium {
  mesh: LauncherProcess;
  page: Page;
  /** Uncaught errors of the page's scripts, in order. */
  pageErrors: string[];
  /** Orders' database, for the test to put orders in as orders would. */
  ordersDb: Database<typeof ordersSchema>;
  /** The mesh's NATS, for the test to publish events on. */
  nc: NatsConnection;
  js: JetStreamClient;
  /** Stops everything (the launcher with SIGINT), keeps the mesh's log as test-results/<name>-mesh.log, and says how the launcher exited. */
  close(): Promise<Awaited<ReturnType<LauncherProcess["stop"]>> | undefined>;
}

/**
 * Faster than the embedded PostgreSQL (no initdb): unique databases on the shared server, a private
 * nats-server on a free port, every service on ephemeral ports; `env` adds to the launcher's.
 */
export async function startLauncherInChromium(name: string, env: Record<string, string>, viewport: { width: number; height: number }): Promise<LauncherInChromium> {
  const databases: TestDatabase[] = await Promise.all(["orders", "shipping", "notifier"].map((s) => createTestDatabase(`${name}_${s}`)));
  const dataDir = await mkdtemp(join(tmpdir(), `ordermesh-${name}-test-`));
  let mesh: LauncherProcess | undefined;
  let browser: Browser | undefined;
  let nc: NatsConnection | undefined;
  let ordersDb: Database<typeof ordersSchema> | undefined;
  const close = async () => {
    await browser?.close();
    await nc?.close();
    await ordersDb?.close();
    const exit = await mesh?.stop("SIGINT");
    // The mesh's logs are the first thing to read when a step in the page did not happen.
    if (mesh) await writeFile(join(screenshots, `${name}-mesh.log`), mesh.output());
    await Promise.all(databases.map((db) => db.drop()));
    await rm(dataDir, { recursive: true, force: true });
    return exit;
  };
  try {
    await mkdir(screenshots, { recursive: true });
    const natsPort = await freePort();
    mesh = await startLauncher({
      ORDERS_DATABASE_URL: databases[0]!.url,
      SHIPPING_DATABASE_URL: databases[1]!.url,
      NOTIFIER_DATABASE_URL: databases[2]!.url,
      MESH_DATA_DIR: dataDir,
      MESH_NATS_PORT: String(natsPort),
      ...env,
      ...ephemeralServicePorts,
    });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
    });
    const page = await browser.newPage({ viewport });
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));
    ordersDb = await openOrdersDatabase(databases[0]!.url, 2);
    nc = await connectNats(`nats://127.0.0.1:${natsPort}`, createLogger(`${name}-test`, "silent"), `${name}-test`);
    return { mesh, page, pageErrors, ordersDb, nc, js: jetstream(nc), close };
  } catch (err) {
    await close();
    throw err;
  }
}
