import { randomUUID } from "node:crypto";
import { create, equals } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ShipmentSchema, ShipmentStatus, ShippingService } from "../../gen/shipping/v1/shipping_pb.js";
import type { Database } from "../platform/db/index.js";
import { grpcStatusDetails, newGrpcJsClient, unaryCall } from "../../tests/support/grpc-js-clients.js";
import { failure, rpcPaths, type RpcPath } from "../../tests/support/rpc-paths.js";
import { shipmentRequest, startShippingServers, type ShippingServers } from "../../tests/support/shipping-harness.js";
import { openShippingDatabase } from "./db/open-database.js";
import { createTestDatabase, type TestDatabase } from "../../tests/support/test-database.js";
import type * as schema from "./db/schema.js";

// Layer 2: the real servers on ephemeral ports, reached by every client library and protocol we support.
let testDb: TestDatabase;
let database: Database<typeof schema>;
let servers: ShippingServers;
let paths: RpcPath[];

beforeAll(async () => {
  testDb = await createTestDatabase("shipping_interop");
  database = await openShippingDatabase(testDb.url, 5);
  servers = await startShippingServers(database);
  paths = rpcPaths(servers.host.grpcPort, servers.host.webPort!);
});

afterAll(async () => {
  paths?.forEach((p) => p.close());
  await servers?.host.stop();
  await database?.close();
  await testDb?.drop();
});

const { createShipment, createShipments, getShipment, getShipmentByOrder, cancelShipment, updateShipmentStatus } = ShippingService.method;

describe.each(rpcPaths(0, 0).map((p) => p.name))("%s", (name) => {
  const path = () => paths.find((p) => p.name === name)!;

  it("creates, reads and cancels a shipment, idempotently per order", async () => {
    const req = shipmentRequest();
    const created = (await path().call(createShipment, req)).shipment!;
    expect(created).toMatchObject({ orderId: req.orderId, status: ShipmentStatus.PENDING, items: [{ sku: "BOOK-1", quantity: 2 }] });
    const again = (await path().call(createShipment, req)).shipment!;
    expect(equals(ShipmentSchema, again, created)).toBe(true);
    expect(equals(ShipmentSchema, (await path().call(getShipment, { id: created.id })).shipment!, created)).toBe(true);
    expect(equals(ShipmentSchema, (await path().call(getShipmentByOrder, { orderId: req.orderId })).shipment!, created)).toBe(true);
    const cancelled = (await path().call(cancelShipment, { id: created.id })).shipment!;
    expect(cancelled.status).toBe(ShipmentStatus.CANCELLED);
  });

  it("creates a batch answered per request, moves a shipment along and cancels by order before creation", async () => {
    const good = shipmentRequest();
    const { results } = await path().call(createShipments, { requests: [good, shipmentRequest({ orderId: "nope" })] });
    expect(results.map((r) => r.result.case)).toEqual(["shipment", "error"]);
    const created = results[0]!.result.value as { id: string };
    expect(results[1]!.result.value).toMatchObject({ code: Code.InvalidArgument, message: "order_id: must be a UUID" });
    const moved = (await path().call(updateShipmentStatus, { id: created.id, status: ShipmentStatus.IN_TRANSIT, trackingNumber: "TRACK-1" })).shipment!;
    expect(moved).toMatchObject({ status: ShipmentStatus.IN_TRANSIT, trackingNumber: "TRACK-1", version: 2n });
    const tombstone = (await path().call(cancelShipment, { orderId: randomUUID() })).shipment!;
    expect(tombstone).toMatchObject({ status: ShipmentStatus.CANCELLED, carrier: "" });
  });

  it("answers INVALID_ARGUMENT with BadRequest details naming every field", async () => {
    const err = await failure(path().call(createShipment, shipmentRequest({ orderId: "nope", items: [{ sku: "", quantity: 0 }] })));
    expect(err).toMatchObject({ code: Code.InvalidArgument, badRequestFields: ["order_id", "items[0].sku", "items[0].quantity"] });
    expect(err.message).toContain("order_id: must be a UUID");
    expect(await failure(path().call(getShipment, { id: "42" }))).toMatchObject({ code: Code.InvalidArgument, badRequestFields: ["id"] });
  });

  it("answers NOT_FOUND and FAILED_PRECONDITION with their codes", async () => {
    expect(await failure(path().call(getShipment, { id: randomUUID() }))).toMatchObject({ code: Code.NotFound, badRequestFields: [] });
    expect(await failure(path().call(getShipmentByOrder, { orderId: randomUUID() }))).toMatchObject({ code: Code.NotFound });
    const { shipment } = await path().call(createShipment, shipmentRequest());
    await servers.store.updateStatus(shipment!.id, "in_transit");
    const err = await failure(path().call(cancelShipment, { id: shipment!.id }));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.message).toContain("in_transit");
  });
});

describe("interop between paths", () => {
  it("a shipment created on one path reads the same on every other path", async () => {
    for (const writer of paths) {
      const req = shipmentRequest();
      const created = (await writer.call(createShipment, req)).shipment!;
      for (const reader of paths) {
        const read = (await reader.call(getShipment, { id: created.id })).shipment!;
        expect(equals(ShipmentSchema, read, created), `${writer.name} -> ${reader.name}`).toBe(true);
      }
    }
  });

  it("concurrent creates for one order over all paths give one shipment", async () => {
    const req = shipmentRequest();
    const results = await Promise.all(paths.flatMap((p) => [p.call(createShipment, req), p.call(createShipment, req)]));
    expect(new Set(results.map((r) => r.shipment!.id)).size).toBe(1);
  });

  it("grpc-js sees grpc-status-details-bin as a google.rpc.Status matching the status", async () => {
    const client = newGrpcJsClient(servers.grpcAddress);
    try {
      const err = await unaryCall(client, createShipment, shipmentRequest({ items: [] })).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      expect(err?.code).toBe(Code.InvalidArgument);
      const status = grpcStatusDetails(err!);
      expect(status).toMatchObject({ code: Code.InvalidArgument, message: "items: needs at least one item" });
      expect(status?.details.map((d) => d.typeUrl)).toEqual(["type.googleapis.com/google.rpc.BadRequest"]);
      // A malformed request body is the client's fault, not the server's.
      const garbage = await new Promise<grpc.ServiceError | undefined>((resolve) =>
        client.makeUnaryRequest(
          `/${ShippingService.typeName}/${createShipment.name}`,
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from([0xff, 0xff, 0xff]),
          (e) => resolve(e ?? undefined),
        ),
      );
      expect(garbage?.code).not.toBe(Code.Unknown);
      expect([Code.InvalidArgument, Code.Internal]).toContain(garbage?.code);
    } finally {
      client.close();
    }
  });

  it("equal requests give equal responses whatever the path (no protocol-specific fields)", async () => {
    const req = shipmentRequest();
    await paths[0]!.call(createShipment, req);
    const reads = await Promise.all(paths.map((p) => p.call(getShipmentByOrder, { orderId: req.orderId })));
    const first = create(ShipmentSchema, reads[0]!.shipment!);
    for (const r of reads) expect(equals(ShipmentSchema, r.shipment!, first)).toBe(true);
  });
});
