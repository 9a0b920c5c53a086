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
      shipmentTrackingBatchSize: 100,
      shipmentTrackingBatchesInFlight: 2,
      dispatchBatchSize: 100,
      dispatchBatchesInFlight: 2,
      shipmentCancelMaxBackoffMs: 30_000,
    });
  });

  it("reads SHIPPING_EVENTS_*, the dispatch and tracking batches and SHIPMENT_CANCEL_MAX_BACKOFF_MS", () => {
    const config = loadOrdersConfig({
      ...base,
      SHIPPING_EVENTS_STREAM: "SHIP_T",
      SHIPPING_EVENTS_SUBJECT_PREFIX: "ship_t",
      SHIPMENT_TRACKING_BATCH_SIZE: "20",
      SHIPMENT_TRACKING_BATCHES_IN_FLIGHT: "4",
      DISPATCH_BATCH_SIZE: "500",
      DISPATCH_BATCHES_IN_FLIGHT: "3",
      SHIPMENT_CANCEL_MAX_BACKOFF_MS: "500",
    });
    expect(config).toMatchObject({
      shippingEvents: { stream: "SHIP_T", subjectPrefix: "ship_t" },
      shipmentTrackingBatchSize: 20,
      shipmentTrackingBatchesInFlight: 4,
      dispatchBatchSize: 500,
      dispatchBatchesInFlight: 3,
      shipmentCancelMaxBackoffMs: 500,
    });
  });

  it("warns about DISPATCH_CONCURRENCY, which batches replaced, instead of ignoring it silently", () => {
    expect(loadOrdersConfig(base).replacedVariables).toEqual([]);
    expect(loadOrdersConfig({ ...base, DISPATCH_CONCURRENCY: "16" }).replacedVariables).toEqual([expect.stringMatching(/DISPATCH_CONCURRENCY .*DISPATCH_BATCH_SIZE, DISPATCH_BATCHES_IN_FLIGHT/)]);
  });

  it("names a bad value", () => {
    expect(() => loadOrdersConfig({ ...base, SHIPMENT_TRACKING_BATCH_SIZE: "0" })).toThrow(/SHIPMENT_TRACKING_BATCH_SIZE/);
    // One dispatch batch is one CreateShipments call, which carries at most 500 requests.
    expect(() => loadOrdersConfig({ ...base, DISPATCH_BATCH_SIZE: "501" })).toThrow(/DISPATCH_BATCH_SIZE must be at most 500/);
    expect(() => loadOrdersConfig({ ...base, SHIPMENT_CANCEL_MAX_BACKOFF_MS: "soon" })).toThrow(/SHIPMENT_CANCEL_MAX_BACKOFF_MS/);
  });
});
