import { randomBytes } from "node:crypto";
import { freePort } from "../services/mesh/ports.js";
import { metricsOff } from "../services/mesh/service-runner.js";
import { dropDatabases, startBenchService } from "./mesh.js";

/** An orders process serving CreateOrder with no event side behind it. */
export interface IsolatedOrders {
  url: string;
  pid: number;
  close(): Promise<void>;
}

/**
 * Starts orders alone on a fresh database with NATS pointed at a closed port: orders keeps accepting
 * orders into its outbox while NATS is unreachable (by design), so no relay, dispatch, shipping or
 * notifier work competes for the two cores. This is CreateOrder's own path — gRPC, validation, the one
 * CTE statement — i.e. exactly what pgbench's run of the same statement bounds.
 */
export async function startIsolatedOrders(postgresUrl: string, authEnv: NodeJS.ProcessEnv = { AUTH_DISABLED: "true" }): Promise<IsolatedOrders> {
  const db = new URL(postgresUrl);
  db.pathname = `/bench_orders_alone_${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const port = await freePort();
  const child = startBenchService(
    "orders",
    {
      LOG_LEVEL: "warn",
      BIND_HOST: "127.0.0.1",
      ...metricsOff,
      ORDERS_PORT: String(port),
      ORDERS_WEB_PORT: "off",
      ORDERS_DATABASE_URL: db.toString(),
      // The ceiling comparison is about the insert path; token verification is measured on its own (auth-cost).
      ...authEnv,
      // Nothing listens on these freshly freed ports; only 127.0.0.1 is ever addressed.
      NATS_URL: `nats://127.0.0.1:${await freePort()}`,
      SHIPPING_ADDR: `127.0.0.1:${await freePort()}`,
    },
    false,
  );
  const url = `http://127.0.0.1:${port}`;
  const close = async () => {
    await child.stop();
    await dropDatabases(postgresUrl, [db.toString()]);
  };
  try {
    await child.waitServing(`127.0.0.1:${port}`);
  } catch (err) {
    await close();
    throw err;
  }
  return { url, pid: child.process.pid!, close };
}
