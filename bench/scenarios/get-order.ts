import { create, toBinary } from "@bufbuild/protobuf";
import { GetOrderRequestSchema } from "../../gen/orders/v1/orders_pb.js";
import { GrpcH2Client } from "../grpc-h2-client.js";
import { ratio } from "../histogram.js";
import { startHttp2Ceiling } from "../http2-ceiling.js";
import { measuredColumns, measuredRun, type BenchContext } from "../measure.js";
import { errorCount, type ResultRow } from "../report.js";

const getOrderPath = "/orders.v1.OrderService/GetOrder";

/**
 * GetOrder on existing orders (each with its shipment recorded, so the answer carries the shipment
 * projection) at each concurrency, each level right beside the bare-http2 ceiling answering the same
 * request path. GetOrder reads orders' database only (no call to shipping), so orders' CPU is the service's.
 */
export async function runGetOrder(ctx: BenchContext, orderIds: string[]): Promise<ResultRow[]> {
  // The canned response of the ceiling is the real service's answer for a real order.
  const probe = new GrpcH2Client(ctx.mesh.ordersUrl);
  const sample = await probe.unary(getOrderPath, toBinary(GetOrderRequestSchema, create(GetOrderRequestSchema, { id: orderIds[0]! })));
  await probe.close();
  if (sample.code !== 0) throw new Error(`GetOrder probe failed with code ${sample.code}`);
  const ceilingServer = await startHttp2Ceiling(sample.message);
  const oneHop = await startHttp2Ceiling(sample.message, "service-host");
  const rows: ResultRow[] = [];
  try {
    for (const concurrency of ctx.plan.getOrderLevels) {
      const mode = { kind: "closed", concurrency, durationMs: ctx.plan.closedMs } as const;
      const workload = { kind: "getOrder", ids: orderIds } as const;
      ctx.log(`GetOrder c=${concurrency}`);
      const real = await measuredRun(ctx, { target: ctx.mesh.ordersUrl, workload }, mode, { orders: ctx.mesh.pids.orders });
      ctx.log(`bare http2 ceiling c=${concurrency}`);
      const bare = await measuredRun(ctx, { target: ceilingServer.url, workload }, mode, { http2: ceilingServer.pid });
      const r = ratio(real.result.throughput, bare.result.throughput);
      rows.push({
        scenario: "GetOrder",
        load: `c=${concurrency}`,
        ...measuredColumns(real),
        ceiling: { name: "bare http2", throughput: bare.result.throughput, cpuUsPerOp: bare.cpu?.total },
        ratio: r,
        target:
          concurrency === 64
            ? { text: ">= 35% of bare http2, 0 errors", met: (r ?? 0) >= 0.35 && errorCount(real.result.errors) === 0 }
            : { text: "0 errors", met: errorCount(real.result.errors) === 0 },
      });
      // Not a target: how far one hop of the mesh's own server stack (no database, no upstream) gets.
      ctx.log(`one service hop (canned answer) c=${concurrency}`);
      const hop = await measuredRun(ctx, { target: oneHop.url, workload }, mode, { host: oneHop.pid });
      rows.push({
        scenario: "One service hop, canned",
        load: `c=${concurrency}`,
        ...measuredColumns(hop),
        ceiling: { name: "bare http2", throughput: bare.result.throughput, cpuUsPerOp: bare.cpu?.total },
        ratio: ratio(hop.result.throughput, bare.result.throughput),
      });
      if (errorCount(bare.result.errors) > 0) ctx.notes.push(`bare http2 ceiling at c=${concurrency} had errors: ${JSON.stringify(bare.result.errors)}`);
    }
  } finally {
    await Promise.all([ceilingServer.close(), oneHop.close()]);
  }
  return rows;
}
