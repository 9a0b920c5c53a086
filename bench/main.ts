/**
 * `npm run bench [-- --quick]`: starts the mesh (or uses a running one), drives it from a separate load
 * generator process, measures every scenario beside its ceiling, prints one table and writes
 * bench/results/<timestamp>.json and .md.
 */
import { cpus, loadavg } from "node:os";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { OrderService } from "../gen/orders/v1/orders_pb.js";
import { projectPath } from "../services/platform/db/index.js";
import { parseArgs, sharedMeshScenarios, type BenchArgs } from "./cli.js";
import { shipmentCount, waitForEventSide } from "./event-timings.js";
import { forkLoadGenerator } from "./load-spec.js";
import type { BenchContext, BenchPlan, StandaloneContext } from "./measure.js";
import { startBenchMesh, type MeshService, type MeshUnderBench } from "./mesh.js";
import { formatSoak, formatTable, writeReport, type BenchReport, type ReportSection, type ResultRow } from "./report.js";
import { runAuthCost } from "./scenarios/auth-cost.js";
import { runBrokerCost } from "./scenarios/broker-cost.js";
import { runCreateOrder } from "./scenarios/create-order.js";
import { runEventFlow } from "./scenarios/event-flow.js";
import { runGetOrder } from "./scenarios/get-order.js";
import { runSaturation } from "./scenarios/saturation.js";
import { runSoak } from "./scenarios/soak.js";
import { runTelemetryCost } from "./scenarios/telemetry-cost.js";

const fullPlan: BenchPlan = {
  warmupMs: 2000,
  closedMs: 10_000,
  getOrderLevels: [1, 16, 64],
  createOrderLevels: [1, 8, 32],
  pgbenchSec: 10,
  jetstreamMs: 5000,
  flowRates: [300, 500],
  flowMs: 20_000,
  saturationRates: [400, 500, 600, 700, 800, 900, 1000, 1200],
  saturationStepMs: 15_000,
  soakMs: 300_000,
  soakRate: 100,
  soakSampleMs: 10_000,
  drainTimeoutMs: 120_000,
  telemetryRate: 200,
  telemetryMs: 20_000,
  telemetryWarmupMs: 5000,
  telemetryRounds: 2,
  brokerConcurrency: 32,
  brokerMs: 10_000,
  brokerRelayRows: 20_000,
};

const quickPlan: BenchPlan = {
  warmupMs: 1000,
  closedMs: 3000,
  getOrderLevels: [1, 64],
  createOrderLevels: [1, 32],
  pgbenchSec: 3,
  jetstreamMs: 2000,
  flowRates: [300, 500],
  flowMs: 6000,
  saturationRates: [400, 500, 600, 700, 800],
  saturationStepMs: 6000,
  soakMs: 30_000,
  soakRate: 100,
  soakSampleMs: 10_000,
  drainTimeoutMs: 60_000,
  telemetryRate: 200,
  telemetryMs: 5000,
  telemetryWarmupMs: 2000,
  telemetryRounds: 1,
  brokerConcurrency: 32,
  brokerMs: 3000,
  brokerRelayRows: 5000,
};

const seedOrders = 200;

async function main(args: BenchArgs): Promise<void> {
  const plan = {
    ...(args.quick ? quickPlan : fullPlan),
    ...(args.rates ? { flowRates: args.rates } : {}),
    ...(args.steps ? { saturationRates: args.steps } : {}),
  };
  const startedAt = new Date().toISOString();
  const loadAvgBefore = loadavg();
  const log = (line: string) => process.stderr.write(`[bench ${((Date.now() - Date.parse(startedAt)) / 1000).toFixed(0)}s] ${line}\n`);
  const notes: string[] = [];
  if (loadAvgBefore[0]! > 0.5 * cpus().length) notes.push(`load average was ${loadAvgBefore[0]!.toFixed(2)} at the start (over 0.5 per core): the machine was not idle`);

  const gen = forkLoadGenerator();
  const rows: ResultRow[] = [];
  const sections: ReportSection[] = [];
  let soak: BenchReport["soak"];
  try {
    // These start their own meshes and brokers: they run before the shared mesh exists, so it cannot add to their figures.
    const standalone: StandaloneContext = { gen, plan, notes, log };
    for (const [name, run] of [
      ["telemetry", () => runTelemetryCost(standalone, args.postgresUrl, args.natsUrl)],
      ["broker", () => runBrokerCost(standalone, args.postgresUrl)],
    ] as const) {
      if (!args.only.has(name)) continue;
      const result = await run();
      rows.push(...result.rows);
      sections.push(result.section);
    }
    if (sharedMeshScenarios.some((s) => args.only.has(s))) {
      log(args.ordersAddr ? `using the running mesh at ${args.ordersAddr}` : "starting the mesh");
      const mesh = args.ordersAddr ? runningMesh(args) : await startBenchMesh({ postgresUrl: args.postgresUrl, natsUrl: args.natsUrl, profile: args.profile as MeshService[] });
      try {
        const ctx: BenchContext = { mesh, gen, plan, ordersAccepted: await shipmentCount(mesh), notes, log };
        const ids = await seed(ctx);
        if (args.only.has("getorder")) rows.push(...(await runGetOrder(ctx, ids)));
        if (args.only.has("createorder")) rows.push(...(await runCreateOrder(ctx, args.postgresUrl)));
        if (args.only.has("auth")) rows.push(...(await runAuthCost(ctx, args.postgresUrl)));
        if (args.only.has("flow")) rows.push(...(await runEventFlow(ctx)));
        if (args.only.has("saturation")) rows.push(...(await runSaturation(ctx)));
        if (args.only.has("soak")) {
          const result = await runSoak(ctx);
          rows.push(result.row);
          soak = result.soak;
        }
      } finally {
        log("stopping the mesh");
        await mesh.close();
      }
    }
  } finally {
    await gen.close();
  }
  const report: BenchReport = {
    startedAt,
    finishedAt: new Date().toISOString(),
    quick: args.quick,
    machine: { cpus: cpus().length, loadAvgBefore, loadAvgAfter: loadavg(), node: process.version },
    rows,
    soak,
    notes,
    sections,
  };
  const files = writeReport(projectPath("bench/results"), report);
  console.log(formatTable(rows));
  for (const section of sections) console.log(`\n${section.title}\n\n${section.markdown}`);
  if (soak) console.log("\n" + formatSoak(soak));
  for (const n of notes) console.log(`note: ${n}`);
  console.log(`\nwritten: ${files.json}\n         ${files.md}`);
}

/** Creates the orders GetOrder reads, and waits until each has its shipment (so GetOrder answers with the shipment projection). */
async function seed(ctx: BenchContext): Promise<string[]> {
  ctx.log(`seeding ${seedOrders} orders`);
  const client = createClient(OrderService, createGrpcTransport({ baseUrl: ctx.mesh.ordersUrl }));
  const ids: string[] = [];
  const worker = async (w: number) => {
    for (let i = w; i < seedOrders; i += 8) {
      const { order } = await client.createOrder({
        customerId: `bench-seed-${i % 20}`,
        customerEmail: "bench@example.com",
        currency: "EUR",
        requestId: `bench-seed-${Date.now()}-${i}`,
        items: [{ sku: "SKU-SEED", quantity: 1 + (i % 3), unitPriceCents: 1250n }],
        shippingAddress: { name: "Seed", line1: "2 Seed Road", line2: "", city: "Hamburg", postalCode: "20095", country: "DE" },
      });
      ids.push(order!.id);
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
  ctx.ordersAccepted += ids.length;
  if (!(await waitForEventSide(ctx.mesh, ctx.ordersAccepted, ctx.plan.drainTimeoutMs, ctx.log))) ctx.notes.push("seed orders were not all shipped before GetOrder");
  return ids;
}

function runningMesh(args: BenchArgs): MeshUnderBench {
  return {
    ordersUrl: `http://${args.ordersAddr}`,
    pids: args.pids,
    natsUrl: args.natsUrl,
    stream: args.stream,
    subjectPrefix: args.subjectPrefix,
    shippingDatabaseUrl: args.shippingDatabaseUrl,
    notifierDatabaseUrl: args.notifierDatabaseUrl,
    smtp: undefined,
    close: async () => undefined,
  };
}

try {
  await main(parseArgs(process.argv.slice(2)));
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
}
