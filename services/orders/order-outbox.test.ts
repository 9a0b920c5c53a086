import { create } from "@bufbuild/protobuf";
import { createContextValues, createHandlerContext } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CancelOrderRequestSchema, OrderService } from "../../gen/orders/v1/orders_pb.js";
import { catalogue, startOutboxRelay, typeOf } from "../platform/events/index.js";
import { callerKey, unauthenticatedAdmin } from "../platform/identity/index.js";
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

  it("carries the caller's W3C traceparent from CreateOrder onto the published event, and drops a malformed one", async () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const createWith = (header: string) =>
      svc().createOrder(
        validCreateOrder({ customerId: "relay-trace" }),
        createHandlerContext({ service: OrderService, method: OrderService.method.createOrder, protocolName: "test", requestMethod: "POST", url: "/", requestHeader: { traceparent: header }, contextValues: createContextValues().set(callerKey, unauthenticatedAdmin) }),
      );
    const traced = (await createWith(traceparent)).order!.id!;
    const malformed = (await createWith("00-not-a-trace")).order!.id!;
    const relay = await startOutboxRelay({ sql: db.database.sql, nc: jet.nc, logger: jet.logger, family: "orders", subjectPrefix: jet.subjectPrefix, channel: outboxChannel });
    try {
      await relay.drainNow();
    } finally {
      await relay.stop();
    }
    const headersOf = async (orderId: string) => {
      const [row] = await db.database.sql`select id from outbox where aggregate_id = ${orderId}`;
      const { state } = await jet.jsm.streams.info(jet.stream);
      for (let seq = state.last_seq; seq >= state.first_seq; seq--) {
        const msg = await jet.jsm.streams.getMessage(jet.stream, { seq }).catch(() => null);
        if (msg && msg.header.get("ce-id") === row!.id) return msg.header;
      }
      throw new Error(`event of ${orderId} not published`);
    };
    expect((await headersOf(traced)).get("traceparent")).toBe(traceparent);
    expect((await headersOf(malformed)).get("traceparent")).toBe("");
  });
});
