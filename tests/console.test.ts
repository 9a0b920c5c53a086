import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { type JetStreamClient } from "@nats-io/jetstream";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LauncherProcess } from "./support/mesh-launcher.js";
import { screenshots, startLauncherInChromium, type LauncherInChromium } from "./support/launcher-in-chromium.js";
import { uniqueName } from "./support/test-database.js";
import { publishShippingEvent, shipmentOf, shippingEventFor } from "./support/shipping-events.js";
import { waitFor } from "./support/wait-for.js";
import { httpRequest } from "./support/http-request.js";
import type { TracesAnswer } from "../services/mesh/console-contract.js";
import * as ordersSchema from "../services/orders/db/schema.js";
import { OrderStore } from "../services/orders/order-store.js";
import type { Database } from "../services/platform/db/index.js";
import { catalogue, encodeEvent, eventFamilies, publishEvent, type NatsConnection } from "../services/platform/events/index.js";
import { OrderSchema } from "../gen/orders/v1/orders_pb.js";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";

// Layer 3: the operator console of `npm start` in Debian's Chromium, over the real launcher and
// services: health and numbers of every process, an order's trace placed from the order page, and
// dead letters made on the mesh's NATS, redriven and discarded from the console.

describe("operator console in headless Chromium", () => {
  let ui: LauncherInChromium | undefined;
  let mesh: LauncherProcess | undefined;
  let page: Page;
  let pageErrors: string[] = [];
  let nc: NatsConnection | undefined;
  let js: JetStreamClient | undefined;
  let ordersDb: Database<typeof ordersSchema> | undefined;

  beforeAll(async () => {
    ui = await startLauncherInChromium("console", {}, { width: 1400, height: 1000 });
    ({ mesh, page, ordersDb, nc, js } = ui);
    pageErrors = ui.pageErrors;
  }, 90_000);

  afterAll(async () => {
    const exit = await ui?.close();
    if (ui) expect(exit).toEqual({ code: 0, signal: null });
  }, 60_000);

  it("is named in the banner with every service's metrics address", () => {
    expect(mesh?.consoleUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/console$/);
    for (const name of ["shipping", "orders", "notifier"]) expect(mesh!.output()).toMatch(new RegExp(`\\[mesh\\]\\s+${name}\\s+gRPC .*, metrics http://127\\.0\\.0\\.1:\\d+/metrics`));
  });

  it("shows every process the launcher started with its addresses and health, and the services' numbers", async () => {
    await page.goto(mesh!.consoleUrl!);
    const rows = page.locator("#service-rows");
    for (const name of ["shipping", "orders", "notifier"]) await rows.locator(`tr[data-service="${name}"] [data-health="SERVING"]`).waitFor();
    for (const name of ["postgres", "nats"]) await rows.locator(`tr[data-service="${name}"] [data-health="UP"]`).waitFor();
    const orders = rows.locator('tr[data-service="orders"]');
    expect(await orders.textContent()).toContain(`grpc ${mesh!.ordersGrpcAddr}`);
    expect(await orders.textContent()).toMatch(/metrics http:\/\/127\.0\.0\.1:\d+\/metrics/);
    // Read from orders' /metrics: its outbox, its durable consumers and its breaker in front of shipping.
    await orders.locator('li[data-outbox="orders"]').waitFor();
    await orders.locator('li[data-consumer="shipping-dispatch"]').waitFor();
    await orders.locator('li[data-breaker="shipping"][data-state="closed"]').waitFor();
    await rows.locator('tr[data-service="notifier"] li[data-consumer="notifier"]').waitFor();
    await page.screenshot({ path: join(screenshots, "console-services.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 30_000);

  it("opens an order placed in the order page as one trace through orders, shipping and the notifier", async () => {
    await page.goto(mesh!.webPageUrl!);
    await page.locator("#sign-in-form input[name=customer_id]").fill(uniqueName("console"));
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#orders-empty").waitFor();
    await page.getByRole("button", { name: "Place order" }).click();
    await page.locator("#place-result:has-text('Placed order'), #form-errors:visible").first().waitFor();
    const orderId = /Placed order ([0-9a-f-]{36})/.exec((await page.locator("#place-result").textContent()) ?? "")?.[1];
    expect(orderId).toBeDefined();
    // The order page links the order to its trace in the console.
    await page.locator("#detail-trace").click();
    await page.waitForURL(`**/console?order=${orderId}`);

    const timeline = page.locator("#trace-timeline");
    // Spans arrive as each service exports them: CreateOrder first, the notifier's email last.
    for (const service of ["orders", "shipping", "notifier"]) await timeline.locator(`.span-row[data-service="${service}"]`).first().waitFor({ timeout: 30_000 });
    const spans = await Promise.all(
      (await timeline.locator(".span-row").all()).map(async (row) => ({ service: await row.getAttribute("data-service"), kind: await row.getAttribute("data-kind"), depth: await row.getAttribute("data-depth") })),
    );
    expect(spans.some((s) => s.kind === "SERVER" && s.service === "orders")).toBe(true);
    expect(spans.some((s) => s.kind === "PRODUCER")).toBe(true);
    expect(spans.some((s) => s.kind === "CONSUMER" && s.service === "notifier")).toBe(true);
    // Indented by parent: one root, every other span under it.
    expect(spans.filter((s) => s.depth === "0")).toHaveLength(1);
    // The console's own AdminService calls, every few seconds, leave no traces to crowd orders out.
    const { traces } = JSON.parse((await httpRequest(new URL("/console/api/traces?limit=200", mesh!.consoleUrl).toString(), { method: "GET" })).body) as TracesAnswer;
    expect(traces.length).toBeGreaterThan(0);
    expect(traces.filter((t) => t.rootName.startsWith("admin.v1."))).toEqual([]);
    await page.screenshot({ path: join(screenshots, "console-trace.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it("lists a poison message both consumers dead-lettered and discards it from the console", async () => {
    const eventId = randomUUID();
    // An orders.created event whose payload is no OrderCreated: the event consumers dead-letter it undecoded.
    await publishEvent(js!, {
      subject: `${eventFamilies.orders.defaults.subjectPrefix}.created`,
      eventId,
      type: "orders.v1.OrderCreated",
      source: eventFamilies.orders.source,
      time: new Date(),
      payload: new Uint8Array([0xff, 0xff, 0xff, 0xff]),
    });
    await page.goto(mesh!.consoleUrl!);
    const letters = page.locator(`#dead-letter-rows tr[data-event-id="${eventId}"]`);
    await waitFor(async () => (await letters.count()) === 2, { what: "the poison event dead-lettered by shipping-dispatch and the notifier", timeoutMs: 30_000 });
    expect((await letters.allTextContents()).join(" ")).toMatch(/shipping-dispatch[\s\S]*notifier|notifier[\s\S]*shipping-dispatch/);

    await letters.first().getByRole("button", { name: "Show" }).click();
    const detail = page.locator("#dead-letter-detail");
    await detail.locator("th", { hasText: "x-deadletter-reason" }).waitFor();
    expect(await detail.textContent()).toContain(eventId);
    await page.screenshot({ path: join(screenshots, "console-dead-letters.png"), fullPage: true });

    for (let left = 2; left > 0; left--) {
      await letters.first().getByRole("button", { name: "Discard" }).click();
      await waitFor(async () => (await letters.count()) === left - 1, { what: `${left - 1} dead letters of the poison event left` });
    }
    expect(await page.locator("#action-result").textContent()).toMatch(/Discarded 1 dead letter/);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it("redrives a dead letter from the console once its cause is fixed, and the consumer handles it", async () => {
    // A shipment of an order orders does not know yet: shipment-tracking dead-letters it.
    const orderId = randomUUID();
    const shipment = shipmentOf(orderId);
    const event = shippingEventFor(shipment);
    await publishShippingEvent(js!, eventFamilies.shipping.defaults.subjectPrefix, event);
    await page.goto(mesh!.consoleUrl!);
    const letter = page.locator(`#dead-letter-rows tr[data-event-id="${event.id}"]`);
    await letter.waitFor({ timeout: 30_000 });
    expect(await letter.textContent()).toContain("shipment-tracking");
    expect(await letter.textContent()).toContain("does not exist in this orders database");

    // The cause goes away (the order arrives), then the operator redrives the event.
    const now = new Date();
    await ordersDb!.db.insert(ordersSchema.orders).values({
      id: orderId,
      customerId: "console-redrive",
      customerEmail: "console-redrive@example.com",
      currency: "EUR",
      totalCents: 100n,
      status: "shipment_requested",
      shippingAddress: { name: "Ada Lovelace", line1: "1 Main Street", line2: "", city: "Berlin", postalCode: "10115", country: "DE" },
      createdAt: now,
      updatedAt: now,
    });
    await ordersDb!.db.insert(ordersSchema.lineItems).values({ orderId, position: 0, sku: "REDRIVE-1", quantity: 1, unitPriceCents: 100n });
    await letter.getByRole("button", { name: "Redrive" }).click();
    await letter.waitFor({ state: "detached" });
    expect(await page.locator("#action-result").textContent()).toMatch(/Redrove 1 dead letter/);
    const store = new OrderStore(ordersDb!.db, ordersDb!.sql);
    const recorded = await waitFor(async () => {
      const order = await store.get(orderId);
      return order?.shipmentVersion === 1n ? order : undefined;
    }, { what: "the redriven ShipmentCreated applied to the order" });
    expect(recorded.shipmentTrackingNumber).toBe(shipment.trackingNumber);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it("lists an outbox row its relay gave up on and retries it from the console: the relay publishes it", async () => {
    // As the relay leaves a row after OUTBOX_MAX_ATTEMPTS failed publishes.
    const eventId = randomUUID();
    const orderId = randomUUID();
    const event = encodeEvent(catalogue.orderUpdated, { eventId, order: create(OrderSchema, { id: orderId, customerId: "console-outbox" }), occurTime: timestampNow() });
    await ordersDb!.sql`
      insert into outbox (id, aggregate_id, event_name, event_type, payload, created_at, attempts, last_error, failed_at)
      values (${eventId}, ${orderId}, ${event.name}, ${event.type}, ${Buffer.from(event.payload)}, now(), 50, 'nats: stream full', now())`;
    await page.goto(mesh!.consoleUrl!);
    const row = page.locator(`#outbox-rows tr[data-event-id="${eventId}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain("50: nats: stream full");
    await row.getByRole("button", { name: "Retry" }).click();
    await row.waitFor({ state: "detached" });
    const published = await waitFor(async () => {
      const [outboxRow] = await ordersDb!.sql<{ published: boolean; failed: boolean }[]>`select published_at is not null as published, failed_at is not null as failed from outbox where id = ${eventId}`;
      return outboxRow?.published ? outboxRow : undefined;
    }, { what: "the retried outbox row published by orders' relay" });
    expect(published.failed).toBe(false);
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
