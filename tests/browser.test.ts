import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { type JetStreamClient } from "@nats-io/jetstream";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LauncherProcess } from "./support/mesh-launcher.js";
import { screenshots, startLauncherInChromium, type LauncherInChromium } from "./support/launcher-in-chromium.js";
import { uniqueName } from "./support/test-database.js";
import { publishOrderChange } from "./support/order-changes.js";
import { waitFor } from "./support/wait-for.js";
import { type Order, OrderStatus, ShipmentSummarySchema } from "../gen/orders/v1/orders_pb.js";
import { ShipmentStatus } from "../gen/shipping/v1/shipping_pb.js";
import * as ordersSchema from "../services/orders/db/schema.js";
import { orderToProto } from "../services/orders/order-mapping.js";
import { OrderStore } from "../services/orders/order-store.js";
import type { Database } from "../services/platform/db/index.js";
import { eventFamilies, type NatsConnection } from "../services/platform/events/index.js";

// Layer 3 in a real browser: Debian's Chromium (never a downloaded one) drives the page that `npm start`
// serves, which talks Connect (binary over fetch, CORS) straight to the orders web port, WatchOrder
// included (server streaming over fetch). The test setup
// (tests/setup/system-packages.ts) has installed it when it was missing.

describe("web page in headless Chromium", () => {
  let ui: LauncherInChromium | undefined;
  let mesh: LauncherProcess | undefined;
  let page: Page;
  let pageErrors: string[] = [];
  const customerId = uniqueName("browser");
  let nc: NatsConnection | undefined;
  let js: JetStreamClient | undefined;
  let ordersDb: Database<typeof ordersSchema> | undefined;
  const ordersPrefix = eventFamilies.orders.defaults.subjectPrefix;

  /**
   * A pending order of the customer (or one in `status`) written straight into orders' database, without
   * the outbox row CreateOrder writes: shipping dispatch never hears of it, so only what the test does
   * moves it on.
   */
  async function insertPendingOrder(customer: string, status: ordersSchema.OrderRow["status"] = "pending"): Promise<Order> {
    const now = new Date();
    const id = randomUUID();
    await ordersDb!.db.insert(ordersSchema.orders).values({
      id,
      customerId: customer,
      customerEmail: `${customer}@example.com`,
      currency: "EUR",
      totalCents: 840n,
      status,
      shippingAddress: { name: "Ada Lovelace", line1: "1 Main Street", line2: "", city: "Berlin", postalCode: "10115", country: "DE" },
      createdAt: now,
      updatedAt: now,
    });
    await ordersDb!.db.insert(ordersSchema.lineItems).values({ orderId: id, position: 0, sku: "LIVE-1", quantity: 2, unitPriceCents: 420n });
    return orderToProto((await new OrderStore(ordersDb!.db, ordersDb!.sql).get(id))!);
  }

  /** Lists the customer's orders again and watches this one. */
  async function select(id: string): Promise<void> {
    await page.getByRole("button", { name: "Show orders" }).click();
    await page.locator(`#order-rows tr[data-order-id="${id}"] button`).click();
    await page.locator("#detail-id").filter({ hasText: id }).waitFor();
  }

  /** The order `steps` changes later: version + steps, updated steps ms later. */
  function later(order: Order, steps: number, changes: Partial<Order>): Order {
    return { ...order, ...changes, version: order.version + BigInt(steps), updateTime: timestampFromMs(timestampMs(order.updateTime!) + steps) };
  }

  beforeAll(async () => {
    // Quick enough for a test, slow enough that the page shows each step as current before the next.
    ui = await startLauncherInChromium("browser", { CARRIER_PICKUP_AFTER: "3s", CARRIER_DELIVER_AFTER: "2s" }, { width: 1280, height: 900 });
    ({ mesh, page, ordersDb, nc, js } = ui);
    pageErrors = ui.pageErrors;
  }, 90_000);

  afterAll(async () => {
    const exit = await ui?.close();
    if (ui) expect(exit).toEqual({ code: 0, signal: null });
  }, 60_000);

  it("is served by the launcher and points at the orders web port", async () => {
    expect(mesh?.webPageUrl).toBeDefined();
    // The bare URL redirects to ?api=<orders web port>, the same page a user opens from the banner.
    const bare = new URL(mesh!.webPageUrl!);
    bare.search = "";
    await page.goto(bare.toString());
    expect(page.url()).toBe(mesh!.webPageUrl);
    expect(await page.locator("#api-base").textContent()).toBe(mesh!.ordersWebUrl);
  });

  it("signs in as a customer of the user's choice through the launcher's dev issuer", async () => {
    await page.locator("#sign-in-form input[name=customer_id]").fill(customerId);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#signed-in").filter({ hasText: `Signed in as ${customerId}` }).waitFor();
    // Signed in, the page lists that customer's orders (none yet) without an error.
    await page.locator("#orders-empty").waitFor();
    expect(await page.locator("#list-error").isVisible()).toBe(false);
  });

  it("places an order, lists it and watches it: the timeline shows it placed", async () => {
    await page.getByLabel("SKU").fill("BROWSER-1");
    await page.getByLabel("Quantity").fill("3");
    await page.getByLabel("Unit price").fill("4.20");
    await page.getByRole("button", { name: "Place order" }).click();

    // Either outcome ends the wait, so a server error fails with its own message instead of a timeout.
    await page.locator("#place-result:has-text('Placed order'), #form-errors:visible").first().waitFor();
    expect(await page.locator("#form-errors").isVisible() ? await page.locator("#form-errors").textContent() : "no error").toBe("no error");
    const placed = /Placed order ([0-9a-f-]{36})/.exec((await page.locator("#place-result").textContent()) ?? "")?.[1];
    expect(placed).toBeDefined();
    const row = page.locator(`#order-rows tr[data-order-id="${placed}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain("3 × BROWSER-1");
    expect(await page.locator("#list-form input[name=customer_id]").inputValue()).toBe(customerId);
    // The new order is selected and watched: its panel fills in with WatchOrder's first message.
    await page.locator("#detail-id").filter({ hasText: placed! }).waitFor();
    await page.locator('#timeline li[data-step="placed"]').waitFor();
    expect(await page.locator("#watch-state").textContent()).toContain("Live");
    expect(await page.locator("#detail-error").textContent()).toBe("");
    await page.screenshot({ path: join(screenshots, "browser-order-placed.png"), fullPage: true });
  }, 60_000);

  it("follows an order placed in the page through the simulated carrier, live and without a reload: shipped, then delivered", async () => {
    await page.evaluate("window.sameDocument = true");
    const placedId = async () => /Placed order ([0-9a-f-]{36})/.exec((await page.locator("#place-result").textContent()) ?? "")?.[1];
    const previous = await placedId();
    await page.getByLabel("SKU").fill("CARRIER-1");
    await page.getByLabel("Quantity").fill("1");
    await page.getByLabel("Unit price").fill("9.99");
    await page.getByRole("button", { name: "Place order" }).click();
    const id = await waitFor(async () => {
      const now = await placedId();
      return now !== previous ? now : undefined;
    }, { what: "the new order's id in the page" });
    await page.locator("#detail-id").filter({ hasText: id }).waitFor();

    // Nothing but orders, shipping and its carrier moves it: dispatch, pickup 3 s later, delivery 2 s after that.
    const timeline = page.locator("#timeline");
    await timeline.locator('li[data-step="shipment_requested"][data-state="current"]').waitFor();
    const shipped = timeline.locator('li[data-step="shipped"][data-state="current"]');
    await shipped.waitFor({ timeout: 20_000 });
    const tracking = (await page.locator("#detail-tracking").textContent()) ?? "";
    expect(tracking).toMatch(/^OM\d+$/);
    expect(await shipped.textContent()).toContain(`DHL, tracking ${tracking}`);
    await page.getByRole("button", { name: "Cancel order" }).waitFor({ state: "hidden" });
    await timeline.locator('li[data-step="delivered"][data-state="current"]').waitFor({ timeout: 20_000 });
    await page.locator("#watch-state").filter({ hasText: "Final" }).waitFor();
    expect(await page.locator("#detail-status").textContent()).toBe("Delivered");
    expect(await page.evaluate("window.sameDocument")).toBe(true);
    await page.screenshot({ path: join(screenshots, "browser-order-carrier-delivered.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it("shows changes arrive live, without a reload: shipped with carrier and tracking number, then delivered", async () => {
    const order = await insertPendingOrder(customerId);
    await select(order.id);
    const timeline = page.locator("#timeline");
    await timeline.locator('li[data-step="placed"][data-state="current"]').waitFor();
    expect(await page.getByRole("button", { name: "Cancel order" }).isVisible()).toBe(true);
    // Set on this document only: still there at the end means the page never reloaded.
    await page.evaluate("window.sameDocument = true");

    const shipment = create(ShipmentSummarySchema, { id: randomUUID(), status: ShipmentStatus.PICKED_UP, carrier: "DHL", trackingNumber: "JJD0099887766" });
    await publishOrderChange(js!, ordersPrefix, "orderShipped", later(order, 1, { status: OrderStatus.SHIPPED, shipment }));
    const shipped = timeline.locator('li[data-step="shipped"][data-state="current"]');
    await shipped.waitFor();
    expect(await shipped.textContent()).toContain("DHL, tracking JJD0099887766");
    expect(await page.locator("#detail-tracking").textContent()).toBe("JJD0099887766");
    const done = await Promise.all((await timeline.locator('li[data-state="done"]').all()).map((item) => item.getAttribute("data-step")));
    expect(done).toEqual(["placed", "shipment_requested"]);
    // Picked up: no longer cancellable.
    await page.getByRole("button", { name: "Cancel order" }).waitFor({ state: "hidden" });
    await page.screenshot({ path: join(screenshots, "browser-order-shipped.png"), fullPage: true });

    await publishOrderChange(js!, ordersPrefix, "orderDelivered", later(order, 2, { status: OrderStatus.DELIVERED, shipment: { ...shipment, status: ShipmentStatus.DELIVERED } }));
    await timeline.locator('li[data-step="delivered"][data-state="current"]').waitFor();
    await page.locator("#watch-state").filter({ hasText: "Final" }).waitFor();
    expect(await page.locator(`#order-rows tr[data-order-id="${order.id}"] .badge`).textContent()).toBe("Delivered");
    expect(await page.evaluate("window.sameDocument")).toBe(true);
    await page.screenshot({ path: join(screenshots, "browser-order-delivered.png"), fullPage: true });
  }, 60_000);

  it("cancels with the Cancel button and shows the cancellation arrive through the watch", async () => {
    const order = await insertPendingOrder(customerId);
    await select(order.id);
    await page.locator('#timeline li[data-step="placed"][data-state="current"]').waitFor();
    await page.getByRole("button", { name: "Cancel order" }).click();
    // The button's call shows nothing itself: CancelOrder commits, the relay publishes, the watch delivers.
    const cancelled = page.locator('#timeline li[data-step="cancelled"][data-state="current"]');
    await cancelled.waitFor({ timeout: 15_000 });
    expect(await cancelled.textContent()).toContain("cancelled in the web page");
    await page.getByRole("button", { name: "Cancel order" }).waitFor({ state: "hidden" });
    await page.locator("#watch-state").filter({ hasText: "Final" }).waitFor();
    expect(await page.locator("#detail-status").textContent()).toBe("Cancelled");
    await page.screenshot({ path: join(screenshots, "browser-order-cancelled.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it("cancels an order whose dispatch failed, though its watch had ended, and shows the cancellation", async () => {
    const order = await insertPendingOrder(customerId, "dispatch_failed");
    await select(order.id);
    await page.locator('#timeline li[data-step="dispatch_failed"][data-state="current"]').waitFor();
    // Final for WatchOrder (the stream ended), yet CancelOrder still cancels it.
    await page.locator("#watch-state").filter({ hasText: "Final" }).waitFor();
    await page.getByRole("button", { name: "Cancel order" }).click();
    await page.locator('#timeline li[data-step="cancelled"][data-state="current"]').waitFor({ timeout: 15_000 });
    expect(await page.locator("#detail-status").textContent()).toBe("Cancelled");
    await page.getByRole("button", { name: "Cancel order" }).waitFor({ state: "hidden" });
    await page.locator("#watch-state").filter({ hasText: "Final" }).waitFor();
    expect(await page.locator(`#order-rows tr[data-order-id="${order.id}"] .badge`).textContent()).toBe("Cancelled");
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it("shows the server's validation error next to the form for quantity 0", async () => {
    await page.getByLabel("Quantity").fill("0");
    await page.getByRole("button", { name: "Place order" }).click();

    const errors = page.locator("#form-errors");
    await errors.waitFor({ state: "visible" });
    const text = (await errors.textContent()) ?? "";
    expect(text).toContain("invalid_argument");
    expect(text).toContain("items[0].quantity");
    // The violation from google.rpc.BadRequest lands on the input it names.
    expect(await page.getByLabel("Quantity").getAttribute("aria-invalid")).toBe("true");
    expect(await page.locator(".field-error").first().textContent()).toMatch(/between 1 and/);
    await page.screenshot({ path: join(screenshots, "browser-validation-error.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
