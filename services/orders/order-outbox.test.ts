import { create } from "@bufbuild/protobuf";
import { ExportResultCode } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CancelOrderRequestSchema } from "../../gen/orders/v1/orders_pb.js";
import { catalogue, startOutboxRelay, subjectOf, typeOf } from "../platform/events/index.js";
import { readTelemetryConfig, startTelemetry, withSpan } from "../platform/telemetry/index.js";
import { createJetStreamFixture, type JetStreamFixture } from "../../tests/support/jetstream-fixture.js";
import { createOrdersDatabase, orderContext, validCreateOrder, type OrdersDatabase } from "../../tests/support/orders-fixture.js";
import { outboxChannel } from "./db/schema.js";
import { createOrderService } from "./order-service.js";

// What orders writes into the platform outbox and how it comes out of the relay; the relay's own rules
// (order, retries, replicas) are tested in platform/events/outbox-relay.test.ts.
let db: OrdersDatabase;
let jet: JetStreamFixture;

beforeAll(async () => {
  db = await createOrdersDatabase();
  jet = await createJetStreamFixture();
});
afterAll(async () => {
  await jet?.close();
  await db?.close();
});

const svc = () => createOrderService({ store: db.store });

describe("orders' outbox", () => {
  it("writes CreateOrder's and CancelOrder's events under the catalogue's names, in seq order", async () => {
    const { order } = await svc().createOrder(validCreateOrder({ customerId: "outbox-names" }), orderContext("createOrder"));
    const id = order!.id!;
    await svc().cancelOrder(create(CancelOrderRequestSchema, { id, reason: "no" }), orderContext("cancelOrder"));
    const rows = await db.database.sql`select event_name, event_type from outbox where aggregate_id = ${id} order by seq`;
    expect(rows.map((r) => [r.event_name, r.event_type])).toEqual([
      [catalogue.orderCreated.name, typeOf(catalogue.orderCreated)],
      [catalogue.orderCancelled.name, typeOf(catalogue.orderCancelled)],
    ]);
  });

  it("stores the writing span's traceparent on CreateOrder's row, and the relay sends its PRODUCER span's, a child of it", async () => {
    const untraced = (await svc().createOrder(validCreateOrder({ customerId: "relay-trace" }), orderContext("createOrder"))).order!.id!;
    const exported: ReadableSpan[] = [];
    const exporter: SpanExporter = {
      export: (spans, done) => {
        exported.push(...spans);
        done({ code: ExportResultCode.SUCCESS });
      },
      shutdown: async () => undefined,
    };
    const telemetry = startTelemetry(readTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" }, "orders"), jet.logger, { exporter });
    let traced: string;
    try {
      // Stands for CreateOrder's SERVER span (instrumentService makes it; this calls the handlers directly).
      traced = await withSpan("caller", { root: true }, async () => (await svc().createOrder(validCreateOrder({ customerId: "relay-trace" }), orderContext("createOrder"))).order!.id!);
      const relay = await startOutboxRelay({ sql: db.database.sql, nc: jet.nc, logger: jet.logger, family: "orders", subjectPrefix: jet.subjectPrefix, channel: outboxChannel });
      try {
        await relay.drainNow();
      } finally {
        await relay.stop();
      }
    } finally {
      await telemetry.shutdown();
    }
    const rowTraceparent = async (orderId: string) => (await db.database.sql`select traceparent from outbox where aggregate_id = ${orderId}`)[0]!.traceparent as string | null;
    const headersOf = async (orderId: string) => {
      const [row] = await db.database.sql`select id from outbox where aggregate_id = ${orderId}`;
      const { state } = await jet.jsm.streams.info(jet.stream);
      for (let seq = state.last_seq; seq >= state.first_seq; seq--) {
        const msg = await jet.jsm.streams.getMessage(jet.stream, { seq }).catch(() => null);
        if (msg && msg.header.get("ce-id") === row!.id) return msg.header;
      }
      throw new Error(`event of ${orderId} not published`);
    };
    const caller = exported.find((s) => s.name === "caller")!;
    const outboxWrite = exported.find((s) => s.name === "INSERT outbox")!;
    const producer = exported.find((s) => s.name === `send ${subjectOf(catalogue.orderCreated, jet.subjectPrefix)}` && s.attributes["ordermesh.order.id"] === traced)!;
    const traceId = caller.spanContext().traceId;
    expect(outboxWrite.parentSpanContext?.spanId).toBe(caller.spanContext().spanId);
    expect(await rowTraceparent(traced)).toBe(`00-${traceId}-${outboxWrite.spanContext().spanId}-01`);
    expect(producer.parentSpanContext?.spanId).toBe(outboxWrite.spanContext().spanId);
    expect((await headersOf(traced)).get("traceparent")).toBe(`00-${traceId}-${producer.spanContext().spanId}-01`);
    // A row written outside any trace carries none; its publish starts a trace of its own.
    expect(await rowTraceparent(untraced)).toBeNull();
    const rootProducer = exported.find((s) => s.attributes["ordermesh.order.id"] === untraced)!;
    expect(rootProducer.parentSpanContext).toBeUndefined();
    expect((await headersOf(untraced)).get("traceparent")).toBe(`00-${rootProducer.spanContext().traceId}-${rootProducer.spanContext().spanId}-01`);
  });
});
