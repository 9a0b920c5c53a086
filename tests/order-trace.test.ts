import { randomBytes } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderStatus } from "../gen/orders/v1/orders_pb.js";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "../services/mesh/otlp-receiver.js";
import { catalogue, deadLetterStreamName, subjectOf } from "../services/platform/events/index.js";
import { TEST_NATS_URL } from "./support/jetstream-fixture.js";
import { startMesh, type MeshUnderTest } from "./support/mesh-processes.js";
import { milestoneEmails } from "./support/milestone-emails.js";
import { validCreateOrder } from "./support/orders-fixture.js";
import { startSmtpSink, type SmtpSink } from "./support/smtp-sink.js";
import { uniqueName } from "./support/test-database.js";
import { waitFor } from "./support/wait-for.js";

// Issue #12, traces: the three services as processes export to an OTLP/HTTP receiver in this test,
// orders and the notifier in http/protobuf and shipping in http/json, and one order placed with a
// traceparent must come back as one trace from CreateOrder to the SMTP send.
const stream = uniqueName("ORDERS_TRACE").toUpperCase();
const subjectPrefix = uniqueName("trace");
let receiver: OtlpReceiver;
let smtp: SmtpSink;
let mesh: MeshUnderTest;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  smtp = await startSmtpSink();
  const tracing = (protocol: string) => ({
    OTEL_SDK_DISABLED: "false",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    // Spans reach the receiver within a tenth of a second instead of the default 5 s.
    OTEL_BSP_SCHEDULE_DELAY: "100",
  });
  mesh = await startMesh({
    natsUrl: TEST_NATS_URL,
    stream,
    subjectPrefix,
    smtpUrl: smtp.url,
    env: { orders: tracing("http/protobuf"), shipping: tracing("http/json"), notifier: tracing("http/protobuf") },
  });
}, 90_000);

afterAll(async () => {
  await mesh?.close();
  await smtp?.stop();
  await receiver?.close();
  const nc = await connect({ servers: TEST_NATS_URL });
  const jsm = await jetstream(nc).jetstreamManager();
  for (const name of [stream, mesh?.shippingEvents.stream].filter((n) => n !== undefined).flatMap((n) => [n, deadLetterStreamName(n)])) {
    await jsm.streams.delete(name).catch(() => false);
  }
  await nc.close();
}, 60_000);

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

/** Places one order as a traced caller would: its own span's traceparent on the request. */
async function placeTraced(customerId: string) {
  const traceId = hex(16);
  const callerSpanId = hex(8);
  const { order } = await mesh.orders.createOrder(validCreateOrder({ customerId, customerEmail: `${customerId}@example.com`, requestId: customerId }), {
    headers: { traceparent: `00-${traceId}-${callerSpanId}-01` },
  });
  return { order: order!, traceId, callerSpanId };
}

/** Finds the one span matching; fails naming what is there when there is none or several. */
function one(spans: ReceivedSpan[], what: string, match: (s: ReceivedSpan) => boolean): ReceivedSpan {
  const found = spans.filter(match);
  if (found.length !== 1) throw new Error(`expected one ${what}, found ${found.length} among: ${spans.map((s) => `${s.service}:${s.kind}:${s.name}`).join(", ")}`);
  return found[0]!;
}

describe("one order's trace", () => {
  it("runs from the caller through CreateOrder, the outbox, the relay, dispatch, CreateShipments, shipping's events and the notifier to SMTP", async () => {
    const customerId = uniqueName("traced");
    const { order, traceId, callerSpanId } = await placeTraced(customerId);
    const created = subjectOf(catalogue.orderCreated, subjectPrefix);
    const shipmentCreated = subjectOf(catalogue.shipmentCreated, mesh.shippingEvents.subjectPrefix);
    await waitFor(() => milestoneEmails(smtp, order.id).includes("confirmed"), { timeoutMs: 30_000, what: "the confirmation email" });
    // Every span below has arrived once the last hop (shipment-tracking applying ShipmentCreated) is in.
    const spans = await waitFor(
      () => {
        const trace = receiver.trace(traceId);
        const done = trace?.some((s) => s.name === "SMTP send") && trace.some((s) => s.kind === "CONSUMER" && s.name === `process ${shipmentCreated}`);
        return done ? trace : undefined;
      },
      { timeoutMs: 30_000, what: `the whole trace ${traceId}` },
    );
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const parentOf = (s: ReceivedSpan) => byId.get(s.parentSpanId!);

    // One trace: every span's parent is in it, except the root's, which is the caller's own span.
    expect(spans.every((s) => s.traceId === traceId)).toBe(true);
    const orphans = spans.filter((s) => !byId.has(s.parentSpanId ?? ""));
    expect(orphans.map((s) => [s.name, s.parentSpanId])).toEqual([["orders.v1.OrderService/CreateOrder", callerSpanId]]);
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(["orders", "shipping", "notifier"]));

    const server = one(spans, "CreateOrder server span", (s) => s.name === "orders.v1.OrderService/CreateOrder");
    expect(server).toMatchObject({ kind: "SERVER", service: "orders", attributes: { "rpc.system.name": "grpc", "rpc.method": "orders.v1.OrderService/CreateOrder", "rpc.status_code": "OK", "ordermesh.rpc.protocol": "grpc" } });
    const insert = one(spans, "order insert", (s) => s.service === "orders" && s.attributes["db.operation.name"] === "insert");
    expect(insert).toMatchObject({ kind: "CLIENT", parentSpanId: server.spanId, attributes: { "db.system.name": "postgresql", "db.namespace": mesh.databases.orders.name, "code.function.name": "OrderStore.insert" } });
    const ordersOutbox = one(spans, "orders' outbox write", (s) => s.service === "orders" && s.name === "INSERT outbox" && s.parentSpanId === insert.spanId);
    expect(ordersOutbox.kind).toBe("CLIENT");

    const publish = one(spans, "relay publish of orders.created", (s) => s.name === `send ${created}`);
    expect(publish).toMatchObject({ kind: "PRODUCER", service: "orders", parentSpanId: ordersOutbox.spanId, attributes: { "messaging.system": "nats", "messaging.destination.name": created, "ordermesh.order.id": order.id } });

    const dispatch = one(spans, "dispatch's process span", (s) => s.kind === "CONSUMER" && s.attributes["messaging.consumer.group.name"] === "shipping-dispatch");
    expect(dispatch).toMatchObject({ name: `process ${created}`, service: "orders", parentSpanId: publish.spanId, attributes: { "ordermesh.consumer.outcome": "ack" } });
    // The batch's shared work sits under the first message's span and links to every message's producer.
    const batch = one(spans, "dispatch batch span", (s) => s.name === "shipping-dispatch batch");
    expect(batch).toMatchObject({ kind: "INTERNAL", parentSpanId: dispatch.spanId, links: [{ traceId, spanId: publish.spanId }], attributes: { "messaging.batch.message_count": 1 } });
    const call = one(spans, "CreateShipments client span", (s) => s.kind === "CLIENT" && s.name === "shipping.v1.ShippingService/CreateShipments");
    expect(call).toMatchObject({ service: "orders", parentSpanId: batch.spanId, attributes: { "rpc.status_code": "OK" } });

    const shippingServer = one(spans, "CreateShipments server span", (s) => s.kind === "SERVER" && s.name === "shipping.v1.ShippingService/CreateShipments");
    expect(shippingServer).toMatchObject({ service: "shipping", parentSpanId: call.spanId });
    const createMany = one(spans, "shipping's store call", (s) => s.service === "shipping" && s.attributes["code.function.name"] === "ShipmentStore.createMany");
    expect(createMany).toMatchObject({ kind: "CLIENT", parentSpanId: shippingServer.spanId, attributes: { "db.namespace": mesh.databases.shipping.name } });
    const shippingOutbox = one(spans, "shipping's outbox write", (s) => s.service === "shipping" && s.name === "INSERT outbox");
    expect(shippingOutbox.parentSpanId).toBe(createMany.spanId);
    const shippingPublish = one(spans, "shipping's relay publish", (s) => s.name === `send ${shipmentCreated}`);
    expect(shippingPublish).toMatchObject({ kind: "PRODUCER", service: "shipping", parentSpanId: shippingOutbox.spanId });
    const tracking = one(spans, "shipment-tracking's process span", (s) => s.kind === "CONSUMER" && s.name === `process ${shipmentCreated}`);
    expect(tracking).toMatchObject({ service: "orders", parentSpanId: shippingPublish.spanId, attributes: { "messaging.consumer.group.name": "shipment-tracking" } });
    expect(one(spans, "shipment-tracking batch span", (s) => s.name === "shipment-tracking batch")).toMatchObject({ parentSpanId: tracking.spanId, links: [{ traceId, spanId: shippingPublish.spanId }] });

    // The order's OrderUpdated (the shipment recorded: by dispatch, or by shipment-tracking when ShipmentCreated
    // came first) carries that order's own message span, not the batch's shared one.
    expect(one(spans, "dispatch's record", (s) => s.attributes["code.function.name"] === "OrderStore.recordShipments").parentSpanId).toBe(batch.spanId);
    const updated = one(spans, "relay publish of orders.updated", (s) => s.name === `send ${subjectOf(catalogue.orderUpdated, subjectPrefix)}`);
    expect([dispatch.spanId, tracking.spanId]).toContain(updated.parentSpanId);

    const notified = one(spans, "notifier's process span", (s) => s.service === "notifier" && s.kind === "CONSUMER");
    expect(notified).toMatchObject({ name: `process ${created}`, parentSpanId: publish.spanId, attributes: { "messaging.consumer.group.name": "notifier" } });
    const smtpSend = one(spans, "SMTP send", (s) => s.name === "SMTP send");
    expect(smtpSend).toMatchObject({ kind: "CLIENT", service: "notifier", parentSpanId: notified.spanId, attributes: { "server.port": smtp.port } });
    expect(parentOf(smtpSend)).toBe(notified);

    // Log lines written inside a span carry its ids.
    const rpcLine = mesh.processes.orders.logs.find((l) => l.msg === "rpc" && l.rpc === "/orders.v1.OrderService/CreateOrder" && l.trace_id === traceId);
    expect(rpcLine).toMatchObject({ span_id: server.spanId });
    expect(rpcLine).not.toHaveProperty("traceparent");
    expect(mesh.processes.orders.logs.find((l) => l.msg === "shipment created" && l.orderId === order.id)).toMatchObject({ trace_id: traceId, span_id: dispatch.spanId });
    expect(mesh.processes.shipping.logs.some((l) => l.msg === "rpc" && l.trace_id === traceId && l.span_id === shippingServer.spanId)).toBe(true);
    expect(mesh.processes.notifier.logs.find((l) => l.msg === "email sent" && l.orderId === order.id)).toMatchObject({ trace_id: traceId });
    expect(receiver.traces().find((t) => t.traceId === traceId)).toMatchObject({ rootName: "orders.v1.OrderService/CreateOrder", spanCount: spans.length });
  }, 90_000);

  it("exports nothing from a process without an endpoint, which still does its work", async () => {
    // The notifier again, with OTEL_EXPORTER_OTLP_ENDPOINT unset (empty counts as unset, as the spec says).
    await mesh.stop("notifier", "graceful");
    await mesh.start("notifier", { OTEL_EXPORTER_OTLP_ENDPOINT: "" });
    expect(mesh.processes.notifier.logs.find((l) => l.msg === "tracing off")).toMatchObject({ reason: "no OTEL_EXPORTER_OTLP_ENDPOINT" });
    const { order, traceId } = await placeTraced(uniqueName("untraced"));
    await waitFor(() => milestoneEmails(smtp, order.id).includes("confirmed"), { timeoutMs: 30_000, what: "the confirmation email from the untraced notifier" });
    // Orders still traces: its spans of this order arrive, the notifier's never do.
    await waitFor(async () => (await mesh.orders.getOrder({ id: order.id })).order?.status === OrderStatus.SHIPMENT_REQUESTED, { what: "the order dispatched" });
    await waitFor(() => receiver.trace(traceId)?.some((s) => s.name === `send ${subjectOf(catalogue.orderCreated, subjectPrefix)}`), { what: "orders' spans of the second order" });
    const sent = mesh.processes.notifier.logs.find((l) => l.msg === "email sent" && l.orderId === order.id);
    expect(sent).toBeDefined();
    expect(sent).not.toHaveProperty("trace_id");
    // The notifier's batch exports within its 100 ms schedule when it traces; well past it, nothing of it is there.
    await waitFor(() => receiver.trace(traceId)?.some((s) => s.name === "shipping.v1.ShippingService/CreateShipments" && s.kind === "SERVER"), { what: "shipping's spans of the second order" });
    expect(receiver.trace(traceId)!.filter((s) => s.service === "notifier")).toEqual([]);
  }, 60_000);
});
