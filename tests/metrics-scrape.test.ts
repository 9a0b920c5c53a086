import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { freePort } from "../services/mesh/ports.js";
import { deadLetterStreamName } from "../services/platform/events/index.js";
import { placeOrders } from "./support/event-flow-checks.js";
import { TEST_NATS_URL } from "./support/jetstream-fixture.js";
import { startMesh, type MeshService, type MeshUnderTest } from "./support/mesh-processes.js";
import { startPrometheus, type PrometheusUnderTest } from "./support/prometheus-server.js";
import { startSmtpSink, type SmtpSink } from "./support/smtp-sink.js";
import { uniqueName } from "./support/test-database.js";
import { waitFor } from "./support/wait-for.js";

// A real Prometheus scrapes the three services (real processes) while they take a short load; the
// assertions are PromQL over its HTTP API, as an operator's dashboards and alerts would ask.
const stream = uniqueName("ORDERS_METRICS").toUpperCase();
const subjectPrefix = uniqueName("metrics");
const services: MeshService[] = ["orders", "shipping", "notifier"];
let smtp: SmtpSink;
let mesh: MeshUnderTest;
let prometheus: PrometheusUnderTest;
let metricsPorts: Record<MeshService, number>;

beforeAll(async () => {
  smtp = await startSmtpSink();
  metricsPorts = { orders: await freePort(), shipping: await freePort(), notifier: await freePort() };
  mesh = await startMesh({
    natsUrl: TEST_NATS_URL,
    stream,
    subjectPrefix,
    smtpUrl: smtp.url,
    env: {
      orders: { ORDERS_METRICS_PORT: String(metricsPorts.orders) },
      shipping: { SHIPPING_METRICS_PORT: String(metricsPorts.shipping) },
      notifier: { NOTIFIER_METRICS_PORT: String(metricsPorts.notifier) },
    },
  });
  prometheus = await startPrometheus(metricsPorts, 1);
}, 90_000);

afterAll(async () => {
  await prometheus?.stop();
  await mesh?.close();
  await smtp?.stop();
  const nc = await connect({ servers: TEST_NATS_URL });
  const jsm = await jetstream(nc).jetstreamManager();
  const shippingStream = mesh?.shippingEvents.stream;
  for (const name of [stream, shippingStream].filter((n) => n !== undefined).flatMap((n) => [n, deadLetterStreamName(n)])) await jsm.streams.delete(name).catch(() => false);
  await nc.close();
});

/** The single value of a query that must return exactly one sample (an aggregation). */
async function scalar(promql: string): Promise<number | undefined> {
  const samples = await prometheus.query(promql);
  return samples.length === 1 ? samples[0]!.value : undefined;
}

describe("metrics scraped by Prometheus", () => {
  it("serves only GET /metrics on the metrics port", async () => {
    const base = `http://127.0.0.1:${metricsPorts.orders}`;
    const ok = await fetch(`${base}/metrics`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toContain("text/plain");
    expect(await ok.text()).toContain("# TYPE ordermesh_rpc_server_duration_seconds histogram");
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics/extra`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: "POST", body: "x" })).status).toBe(404);
  });

  it("sees CreateOrder traffic, the outboxes drained, consumers settled and no dead letters after a short load", async () => {
    await waitFor(async () => (await scalar('count(up{job=~"orders|shipping|notifier"} == 1)')) === 3, { timeoutMs: 15_000, intervalMs: 250, what: "all three services scraped" });
    // In two parts around a scrape: a counter's series appears with its first call, and rate() only
    // counts increases between samples it has, as for any new series.
    const createOrders = 'ordermesh_rpc_server_duration_seconds_count{job="orders",service="orders.v1.OrderService",method="CreateOrder",code="OK"}';
    const ids = await placeOrders(mesh, 10, "metrics");
    await waitFor(async () => (await scalar(`sum(${createOrders})`)) === 10, { timeoutMs: 15_000, intervalMs: 250, what: "the first CreateOrders scraped" });
    ids.push(...(await placeOrders(mesh, 20, "metrics")));
    expect(ids).toHaveLength(30);

    const rate = await waitFor(async () => scalar(`sum(rate(${createOrders}[30s]))`), {
      timeoutMs: 15_000,
      intervalMs: 250,
      what: "a CreateOrder rate",
    });
    expect(rate).toBeGreaterThan(0);
    // Errors by code come from the same histogram: the load had none.
    expect(await prometheus.query('ordermesh_rpc_server_duration_seconds_count{method="CreateOrder",code!="OK"}')).toEqual([]);

    // The notifier's emails are the load's last step; every order's confirmation acked means the
    // orders events went through both outboxes and the consumers.
    await waitFor(async () => ((await scalar('sum(ordermesh_consumer_messages_total{job="notifier",outcome="ack"})')) ?? 0) >= 30, {
      timeoutMs: 30_000,
      intervalMs: 250,
      what: "the notifier to ack the orders' events",
    });
    await waitFor(
      async () => {
        const backlog = await prometheus.query("ordermesh_outbox_backlog");
        const age = await prometheus.query("ordermesh_outbox_oldest_unpublished_age_seconds");
        // One outbox per event family: orders' (in orders) and shipping's (in shipping).
        return backlog.length === 2 && backlog.every((s) => s.value === 0) && age.length === 2 && age.every((s) => s.value === 0);
      },
      { timeoutMs: 15_000, intervalMs: 250, what: "both outboxes scraped back at 0" },
    );
    expect(await scalar("sum(ordermesh_outbox_failed)")).toBe(0);

    const deadLettered = await prometheus.query("ordermesh_consumer_dead_lettered_total");
    expect(deadLettered.length).toBeGreaterThan(0);
    expect(deadLettered.map((s) => s.value)).toEqual(deadLettered.map(() => 0));
    // Every durable consumer reports its lag from JetStream; after the load none is behind by much,
    // and none holds messages unacknowledged for good.
    const pending = await prometheus.query("ordermesh_consumer_pending");
    expect(new Set(pending.map((s) => s.metric.consumer)).size).toBeGreaterThanOrEqual(3);

    expect((await prometheus.query('ordermesh_circuit_breaker_state{job="orders",upstream="shipping"}')).map((s) => s.value)).toEqual([0]);
    expect((await prometheus.query("ordermesh_health_serving")).map((s) => s.value)).toEqual([1, 1, 1]);
    for (const job of services) {
      expect(await prometheus.query(`nodejs_eventloop_lag_seconds{job="${job}"}`), job).toHaveLength(1);
      expect(await prometheus.query(`process_resident_memory_bytes{job="${job}"}`), job).toHaveLength(1);
      expect(await prometheus.query(`process_cpu_seconds_total{job="${job}"}`), job).toHaveLength(1);
    }
  }, 60_000);
});
