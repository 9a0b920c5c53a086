import { describe, expect, it } from "vitest";
import { loadOrdersConfig } from "./config.js";

// AUTH_DISABLED keeps these tests about the event side's variables, not identity.
const base = { AUTH_DISABLED: "true" };

describe("loadOrdersConfig: the order's life", () => {
  it("defaults to the map's streams and the tracking and cancel tuning", () => {
    expect(loadOrdersConfig(base)).toMatchObject({
      eventsStream: "ORDERS",
      eventsSubjectPrefix: "orders",
      shippingEvents: { stream: "SHIPPING", subjectPrefix: "shipping" },
      shipmentTrackingConcurrency: 16,
      shipmentCancelMaxBackoffMs: 30_000,
    });
  });

  it("reads SHIPPING_EVENTS_*, SHIPMENT_TRACKING_CONCURRENCY and SHIPMENT_CANCEL_MAX_BACKOFF_MS", () => {
    const config = loadOrdersConfig({
      ...base,
      SHIPPING_EVENTS_STREAM: "SHIP_T",
      SHIPPING_EVENTS_SUBJECT_PREFIX: "ship_t",
      SHIPMENT_TRACKING_CONCURRENCY: "4",
      SHIPMENT_CANCEL_MAX_BACKOFF_MS: "500",
    });
    expect(config).toMatchObject({ shippingEvents: { stream: "SHIP_T", subjectPrefix: "ship_t" }, shipmentTrackingConcurrency: 4, shipmentCancelMaxBackoffMs: 500 });
  });

  it("names a bad value", () => {
    expect(() => loadOrdersConfig({ ...base, SHIPMENT_TRACKING_CONCURRENCY: "0" })).toThrow(/SHIPMENT_TRACKING_CONCURRENCY/);
    expect(() => loadOrdersConfig({ ...base, SHIPMENT_CANCEL_MAX_BACKOFF_MS: "soon" })).toThrow(/SHIPMENT_CANCEL_MAX_BACKOFF_MS/);
  });
});
