import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { OrderService } from "../../gen/orders/v1/orders_pb.js";
import { mintToken, newSigningKey } from "../../services/mesh/dev-issuer.js";
import { startIsolatedOrders } from "../isolated-orders.js";
import { measuredColumns, measuredRun, type BenchContext, type Measured } from "../measure.js";
import { errorCount, type ResultRow } from "../report.js";

const customerId = "bench-auth";
const concurrency = 8;
const seeded = 50;
// Bearer-token verification may add at most this share of orders' CPU per call (issue #10).
const maxOverhead = 0.1;

/**
 * What identity costs: GetOrder and CreateOrder against orders alone, once with AUTH_DISABLED and once
 * verifying an ES256 bearer token on every call (one token per client, as real clients reuse theirs
 * until it expires), and orders' CPU µs per call of the two side by side.
 */
export async function runAuthCost(ctx: BenchContext, postgresUrl: string): Promise<ResultRow[]> {
  const dir = await mkdtemp(join(tmpdir(), "ordermesh-bench-issuer-"));
  try {
    const issuer = "ordermesh-bench";
    const key = await newSigningKey(issuer);
    const jwksFile = join(dir, "jwks.json");
    await writeFile(jwksFile, JSON.stringify(key.jwks));
    const token = await mintToken(key.signer, { customerId, email: "bench@example.com", ttlSeconds: 3600 });
    const off = await measureOrders(ctx, postgresUrl, "off", { AUTH_DISABLED: "true" }, undefined);
    const on = await measureOrders(ctx, postgresUrl, "on", { AUTH_JWKS_FILE: jwksFile, AUTH_ISSUER: issuer }, { authorization: `Bearer ${token}` });
    return (["GetOrder", "CreateOrder"] as const).flatMap((rpc) => {
      const base = off[rpc].cpu?.total;
      const withAuth = on[rpc].cpu?.total;
      const overhead = base && withAuth ? withAuth / base - 1 : undefined;
      const row = (m: Measured, auth: string): ResultRow => ({ scenario: `${rpc} (orders alone, auth ${auth})`, load: `c=${concurrency}`, ...measuredColumns(m) });
      return [
        row(off[rpc], "off"),
        {
          ...row(on[rpc], "on"),
          target: {
            text: `<= ${maxOverhead * 100}% more CPU/call than auth off, 0 errors`,
            met: overhead !== undefined && overhead <= maxOverhead && errorCount(on[rpc].result.errors) === 0,
          },
          note: overhead === undefined ? "CPU not measured" : `${overhead >= 0 ? "+" : ""}${(overhead * 100).toFixed(1)}% orders CPU per call vs auth off`,
        },
      ];
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function measureOrders(
  ctx: BenchContext,
  postgresUrl: string,
  label: string,
  authEnv: NodeJS.ProcessEnv,
  headers: Record<string, string> | undefined,
): Promise<Record<"GetOrder" | "CreateOrder", Measured>> {
  const orders = await startIsolatedOrders(postgresUrl, authEnv);
  try {
    // Orders alone has no shipping, so these are GetOrder's own path: one read, no enrichment call.
    const client = createClient(OrderService, createGrpcTransport({ baseUrl: orders.url }));
    const ids: string[] = [];
    for (let i = 0; i < seeded; i++) {
      const { order } = await client.createOrder(
        {
          customerId,
          customerEmail: "bench@example.com",
          currency: "EUR",
          items: [{ sku: "SKU-AUTH", quantity: 1, unitPriceCents: 990n }],
          shippingAddress: { name: "Auth Bench", line1: "1 Token Road", city: "Berlin", postalCode: "10115", country: "DE" },
        },
        { headers },
      );
      ids.push(order!.id);
    }
    const mode = { kind: "closed", concurrency, durationMs: ctx.plan.closedMs } as const;
    const pids = { orders: orders.pid };
    ctx.log(`GetOrder c=${concurrency}, orders alone, auth ${label}`);
    const getOrder = await measuredRun(ctx, { target: orders.url, workload: { kind: "getOrder", ids }, headers }, mode, pids);
    ctx.log(`CreateOrder c=${concurrency}, orders alone, auth ${label}`);
    const createOrder = await measuredRun(ctx, { target: orders.url, workload: { kind: "createOrder", customerId }, headers }, mode, pids);
    return { GetOrder: getOrder, CreateOrder: createOrder };
  } finally {
    await orders.close();
  }
}
