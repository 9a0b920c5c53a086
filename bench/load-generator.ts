/**
 * The load generator process (forked by load-spec.ts): runs one LoadSpec per IPC message and answers
 * with a LoadResult. It disconnects and exits when its parent disconnects.
 */
import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { CreateOrderRequestSchema, GetOrderRequestSchema } from "../gen/orders/v1/orders_pb.js";
import { GrpcH2Client, type UnaryResult } from "./grpc-h2-client.js";
import { encodeHistogram, newHistogram, recordMs, type Histogram } from "./histogram.js";
import type { LoadMode, LoadResult, LoadSpec, Workload } from "./load-spec.js";
import { dueCount, msUntilDue, totalRequests } from "./open-loop.js";

const getOrderPath = "/orders.v1.OrderService/GetOrder";
const createOrderPath = "/orders.v1.OrderService/CreateOrder";

type Call = () => Promise<UnaryResult>;

/** Runs one spec against its target and measures it. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const client = new GrpcH2Client(spec.target);
  const call = callFor(client, spec.workload, spec.timeoutMs ?? 10_000, spec.headers);
  const histogram = newHistogram();
  const errors: Record<string, number> = {};
  let ok = 0;
  let calls = 0;
  const settle = (result: UnaryResult, latencyMs: number) => {
    calls++;
    recordMs(histogram, latencyMs);
    if (result.code === 0) ok++;
    else {
      const name = Code[result.code] ?? `code${result.code}`;
      errors[name] = (errors[name] ?? 0) + 1;
    }
  };
  const started = performance.now();
  await (spec.mode.kind === "closed" ? closedLoop(call, spec.mode, settle) : openLoop(call, spec.mode, settle));
  const elapsedMs = performance.now() - started;
  await client.close();
  return { calls, ok, errors, elapsedMs, throughput: (ok * 1000) / elapsedMs, histogram: encodeHistogram(histogram) };
}

function callFor(client: GrpcH2Client, workload: Workload, timeoutMs: number, headers?: Record<string, string>): Call {
  if (workload.kind === "getOrder") {
    // Encoded once: the client's own cost per call stays out of the server's way.
    const requests = workload.ids.map((id) => toBinary(GetOrderRequestSchema, create(GetOrderRequestSchema, { id })));
    let i = 0;
    return () => client.unary(getOrderPath, requests[i++ % requests.length]!, timeoutMs, headers);
  }
  const { customerId } = workload;
  return () =>
    client.unary(
      createOrderPath,
      toBinary(
        CreateOrderRequestSchema,
        create(CreateOrderRequestSchema, {
          customerId,
          customerEmail: "bench@example.com",
          currency: "EUR",
          requestId: randomUUID(),
          items: [
            { sku: "SKU-BENCH-1", quantity: 2, unitPriceCents: 1999n },
            { sku: "SKU-BENCH-2", quantity: 1, unitPriceCents: 4500n },
          ],
          shippingAddress: { name: "Bench Mark", line1: "1 Load Street", line2: "", city: "Berlin", postalCode: "10115", country: "DE" },
        }),
      ),
      timeoutMs,
      headers,
    );
}

async function closedLoop(call: Call, mode: Extract<LoadMode, { kind: "closed" }>, settle: (r: UnaryResult, ms: number) => void) {
  const end = performance.now() + mode.durationMs;
  const caller = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const result = await call();
      settle(result, performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: mode.concurrency }, caller));
}

async function openLoop(call: Call, mode: Extract<LoadMode, { kind: "open" }>, settle: (r: UnaryResult, ms: number) => void) {
  const total = totalRequests(mode.durationMs, mode.ratePerSec);
  const start = performance.now();
  const inFlight: Array<Promise<void>> = [];
  let sent = 0;
  while (sent < total) {
    const due = dueCount(performance.now() - start, mode.ratePerSec, total);
    for (; sent < due; sent++) {
      // Latency from the intended send time, not from when this loop got round to sending it.
      const intended = start + (sent * 1000) / mode.ratePerSec;
      inFlight.push(call().then((r) => settle(r, performance.now() - intended)));
    }
    if (sent < total) await delay(msUntilDue(sent, performance.now() - start, mode.ratePerSec));
  }
  await Promise.all(inFlight);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Entry point when forked: one run per message, strictly one at a time.
if (process.send) {
  let queue = Promise.resolve();
  process.on("message", (raw) => {
    const { id, spec } = raw as { id: number; spec: LoadSpec };
    queue = queue.then(() =>
      runLoad(spec).then(
        (result) => void process.send!({ id, result }),
        (err: unknown) => void process.send!({ id, error: err instanceof Error ? err.stack ?? err.message : String(err) }),
      ),
    );
  });
  process.on("disconnect", () => process.exit(0));
}
