import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { type CreateShipmentRequest, type CreateShipmentsResult, CreateShipmentsResultSchema, ShipmentStatus, ShippingService } from "../../gen/shipping/v1/shipping_pb.js";
import { invalidArgument, statusOf, type FieldViolation } from "../platform/rpc/index.js";
import { isUuid, limitText, maxIdLength, requireUuid, validateAddress, validateItems } from "../platform/validation/index.js";
import type { ShipmentRow } from "./db/schema.js";
import { statusFromProto, toProto } from "./shipment-mapping.js";
import type { NewShipment, ShipmentStore } from "./shipment-store.js";
import type { ShippingAccess } from "./shipping-access.js";

/** The most requests one CreateShipments call may carry. */
export const maxBatchSize = 500;

/** The longest tracking number a carrier may report. */
export const maxTrackingNumberLength = 64;

// The statuses a carrier reports; PENDING is where shipments start, never a report.
const reportable = new Set([ShipmentStatus.PICKED_UP, ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERED, ShipmentStatus.CANCELLED]);

/** The ShippingService handlers over a shipment store; `access` decides who may call what. */
export function createShippingService(store: ShipmentStore, access: ShippingAccess): ServiceImpl<typeof ShippingService> {
  // A shipment the caller may not read is NOT_FOUND, the same answer as one that does not exist.
  const readable = <T extends ShipmentRow>(ctx: HandlerContext, row: T | undefined): T | undefined =>
    row && access.mayRead(ctx, row.customerId) ? row : undefined;
  return {
    async createShipment(req, ctx) {
      // Identity before validation: an unauthorised caller learns nothing from field errors either.
      access.requireMutator(ctx, "CreateShipment");
      const { row } = await store.createOnce(validCreate(req));
      return { shipment: toProto(row) };
    },
    async createShipments(req, ctx) {
      access.requireMutator(ctx, "CreateShipments");
      if (req.requests.length === 0 || req.requests.length > maxBatchSize) {
        throw invalidArgument([{ field: "requests", description: `must hold 1 to ${maxBatchSize} requests, got ${req.requests.length}` }]);
      }
      const results: CreateShipmentsResult[] = new Array(req.requests.length);
      const valid: Array<{ index: number; input: NewShipment }> = [];
      for (const [index, request] of req.requests.entries()) {
        try {
          valid.push({ index, input: validCreate(request) });
        } catch (err) {
          results[index] = create(CreateShipmentsResultSchema, { result: { case: "error", value: statusOf(err) } });
        }
      }
      // One transaction for the whole batch, idempotent per order_id like CreateShipment.
      const created = await store.createMany(valid.map((v) => v.input));
      for (const [k, { index }] of valid.entries()) {
        results[index] = create(CreateShipmentsResultSchema, { result: { case: "shipment", value: toProto(created[k]!.row) } });
      }
      return { results };
    },
    async getShipment(req, ctx) {
      access.requireReader(ctx, "GetShipment");
      requireUuid("id", req.id);
      return { shipment: toProto(found(readable(ctx, await store.get(req.id)), `shipment ${req.id}`)) };
    },
    async getShipmentByOrder(req, ctx) {
      access.requireReader(ctx, "GetShipmentByOrder");
      requireUuid("order_id", req.orderId);
      return { shipment: toProto(found(readable(ctx, await store.getByOrder(req.orderId)), `shipment of order ${req.orderId}`)) };
    },
    async cancelShipment(req, ctx) {
      access.requireMutator(ctx, "CancelShipment");
      if ((req.id === "") === (req.orderId === "")) {
        const description = "set exactly one of id and order_id";
        throw invalidArgument([
          { field: "id", description },
          { field: "order_id", description },
        ]);
      }
      if (req.id !== "") {
        requireUuid("id", req.id);
        return { shipment: toProto(found(await store.cancel({ id: req.id }), `shipment ${req.id}`)) };
      }
      requireUuid("order_id", req.orderId);
      // By order it always answers: a missing shipment becomes a cancelled tombstone.
      return { shipment: toProto(found(await store.cancel({ orderId: req.orderId.toLowerCase() }), `shipment of order ${req.orderId}`)) };
    },
    async updateShipmentStatus(req, ctx) {
      access.requireStatusReporter(ctx, "UpdateShipmentStatus");
      const violations: FieldViolation[] = [];
      if (!isUuid(req.id)) violations.push({ field: "id", description: "must be a UUID" });
      const status = reportable.has(req.status) ? statusFromProto(req.status) : undefined;
      if (!status) violations.push({ field: "status", description: "must be PICKED_UP, IN_TRANSIT, DELIVERED or CANCELLED" });
      limitText(violations, "tracking_number", req.trackingNumber, maxTrackingNumberLength);
      if (violations.length > 0) throw invalidArgument(violations);
      const row = await store.updateStatus(req.id, status!, {
        trackingNumber: req.trackingNumber,
        occurTime: req.occurTime && timestampDate(req.occurTime),
      });
      return { shipment: toProto(found(row, `shipment ${req.id}`)) };
    },
  };
}

/** Checks CreateShipment's input itself, with the limits CreateOrder applies, rather than trusting its caller. */
function validCreate(req: CreateShipmentRequest): NewShipment {
  const violations: FieldViolation[] = [];
  if (!isUuid(req.orderId)) violations.push({ field: "order_id", description: "must be a UUID" });
  limitText(violations, "customer_id", req.customerId, maxIdLength);
  validateAddress(violations, "address", req.address);
  validateItems(violations, req.items);
  if (violations.length > 0) throw invalidArgument(violations);
  const a = req.address!;
  return {
    orderId: req.orderId.toLowerCase(),
    customerId: req.customerId,
    address: { name: a.name, line1: a.line1, line2: a.line2, city: a.city, postalCode: a.postalCode, country: a.country },
    items: req.items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
  };
}

function found<T>(row: T | undefined, what: string): T {
  if (!row) throw new ConnectError(`${what} not found`, Code.NotFound);
  return row;
}
