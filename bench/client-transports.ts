/**
 * `npm run bench:transports`: client CPU per unary call of the typed Connect client that orders uses for
 * shipping, on connect-node's gRPC transport and on the grpc-js transport
 * (services/platform/rpc/grpc-js-transport.ts), both under the same cockatiel read policy, against one
 * canned hop of the services' own server stack in another process. Rounds alternate so that a noisy
 * neighbour hits both transports alike.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { GetOrderResponseSchema, OrderService, OrderStatus } from "../gen/orders/v1/orders_pb.js";
import { createGrpcJsTransport } from "../services/platform/rpc/index.js";
import { createLogger } from "../services/platform/process/index.js";
import { createUpstreamPolicy } from "../services/platform/rpc/index.js";
import { cpuMicros } from "./cpu.js";
import { startHttp2Ceiling } from "./http2-ceiling.js";

const concurrency = 64;
const calls = 10_000;
const warmup = 2_000;
const rounds = 3;

const canned = toBinary(
  GetOrderResponseSchema,
  create(GetOrderResponseSchema, {
    order: {
      id: "6f1c1a5e-3f7b-4c36-9d1e-2f4b8b1f0a11",
      customerId: "customer-1",
      customerEmail: "buyer@example.com",
      currency: "EUR",
      totalCents: 2899n,
      status: OrderStatus.PENDING,
      items: [{ sku: "SKU-1", quantity: 2, unitPriceCents: 999n }, { sku: "SKU-2", quantity: 1, unitPriceCents: 901n }],
      shippingAddress: { name: "Ada Lovelace", line1: "1 Main St", city: "Berlin", postalCode: "10115", country: "DE" },
      createTime: timestampFromDate(new Date()),
      updateTime: timestampFromDate(new Date()),
    },
  }),
);

const server = await startHttp2Ceiling(canned, "service-host");
const address = new URL(server.url).host;
const grpcJs = createGrpcJsTransport({ address });
const clients: Record<string, Client<typeof OrderService>> = {
  "connect-node gRPC transport": createClient(OrderService, createGrpcTransport({ baseUrl: server.url })),
  "grpc-js transport": createClient(OrderService, grpcJs),
};
const policy = createUpstreamPolicy({ name: "bench", logger: createLogger("bench", "silent"), attemptTimeoutMs: 1000, maxAttempts: 2, retryOn: [Code.Unavailable] });

async function drive(client: Client<typeof OrderService>, n: number): Promise<void> {
  let left = n;
  const worker = async () => {
    while (left-- > 0) await policy.call(({ signal, timeoutMs }) => client.getOrder({ id: "6f1c1a5e-3f7b-4c36-9d1e-2f4b8b1f0a11" }, { signal, timeoutMs }));
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const results: Record<string, Array<{ client: number; server: number; perSecond: number }>> = {};
try {
  for (let round = 1; round <= rounds; round++) {
    for (const [name, client] of Object.entries(clients)) {
      await drive(client, warmup);
      const clientBefore = process.cpuUsage();
      const serverBefore = cpuMicros(server.pid);
      const started = performance.now();
      await drive(client, calls);
      const seconds = (performance.now() - started) / 1000;
      const used = process.cpuUsage(clientBefore);
      (results[name] ??= []).push({
        client: (used.user + used.system) / calls,
        server: (cpuMicros(server.pid) - serverBefore) / calls,
        perSecond: calls / seconds,
      });
    }
  }
} finally {
  grpcJs.close();
  await server.close();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`typed Connect client + cockatiel, GetOrder, c=${concurrency}, ${calls} calls per round, median of ${rounds} rounds`);
console.log("| transport | client CPU µs/call | server CPU µs/call | calls/s |");
console.log("| --- | --- | --- | --- |");
for (const [name, rows] of Object.entries(results)) {
  console.log(`| ${name} | ${median(rows.map((r) => r.client)).toFixed(0)} | ${median(rows.map((r) => r.server)).toFixed(0)} | ${median(rows.map((r) => r.perSecond)).toFixed(0)} |`);
}
process.exit(0);
