import { describe, expect, it } from "vitest";
import { parsePrometheusText } from "./prometheus-text.js";
import { summarizeMetrics } from "./service-numbers.js";

// The series are the ones services/platform/metrics exports (README, Metrics); this text is what orders serves.
const ordersText = `
# TYPE ordermesh_outbox_backlog gauge
ordermesh_outbox_backlog{family="orders"} 3
ordermesh_outbox_oldest_unpublished_age_seconds{family="orders"} 42.5
ordermesh_outbox_failed{family="orders"} 1
ordermesh_consumer_pending{stream="ORDERS",consumer="shipping-dispatch"} 5
ordermesh_consumer_ack_pending{stream="ORDERS",consumer="shipping-dispatch"} 2
ordermesh_consumer_redelivered{stream="ORDERS",consumer="shipping-dispatch"} 1
ordermesh_consumer_messages_total{stream="ORDERS",consumer="shipping-dispatch",outcome="ack"} 10
ordermesh_consumer_messages_total{stream="ORDERS",consumer="shipping-dispatch",outcome="retry"} 4
ordermesh_consumer_messages_total{stream="ORDERS",consumer="shipping-dispatch",outcome="dead_letter"} 1
ordermesh_consumer_dead_lettered_total{stream="ORDERS",consumer="shipping-dispatch"} 1
ordermesh_consumer_messages_total{stream="SHIPPING",consumer="shipment-tracking",outcome="ack"} 0
ordermesh_consumer_dead_lettered_total{stream="SHIPPING",consumer="shipment-tracking"} 0
ordermesh_circuit_breaker_state{upstream="shipping"} 1
ordermesh_health_serving 1
process_resident_memory_bytes 123456789
nodejs_eventloop_lag_seconds 0.002
ordermesh_rpc_server_duration_seconds_count{service="orders.v1.OrderService",method="CreateOrder",protocol="grpc",code="OK"} 9
`;

describe("a service's numbers for the console", () => {
  it("gathers outbox, consumers (JetStream's view beside what the process settled), breakers, health and memory", () => {
    expect(summarizeMetrics(parsePrometheusText(ordersText))).toEqual({
      serving: true,
      outbox: [{ family: "orders", backlog: 3, oldestAgeSeconds: 42.5, failed: 1 }],
      consumers: [
        { stream: "ORDERS", consumer: "shipping-dispatch", pending: 5, ackPending: 2, redelivered: 1, handled: 10, retried: 4, deadLettered: 1 },
        { stream: "SHIPPING", consumer: "shipment-tracking", handled: 0, retried: 0, deadLettered: 0 },
      ],
      breakers: [{ upstream: "shipping", state: "half-open" }],
      rssBytes: 123456789,
      eventLoopLagSeconds: 0.002,
    });
  });

  it("leaves out what a service does not export (the notifier has no outbox or breaker)", () => {
    const numbers = summarizeMetrics(parsePrometheusText("ordermesh_health_serving 0\n"));
    expect(numbers).toMatchObject({ serving: false, outbox: [], consumers: [], breakers: [], rssBytes: undefined });
  });
});
