import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  type CreateShipmentRequest,
  type Shipment,
  ShipmentSchema,
  ShipmentStatus,
  ShippingService,
} from "../../gen/shipping/v1/shipping_pb.js";
import { validateAddress } from "../platform/validation/index.js";
import { validateItems } from "../platform/validation/index.js";
import { invalidArgument, type FieldViolation } from "../platform/rpc/index.js";
import { isUuid, limitText, maxIdLength, requireUuid } from "../platform/validation/index.js";
import type { ShipmentRow } from "./db/schema.js";
import type { ShipmentStore } from "./shipment-store.js";
import type { ShippingAccess } from "./shipping-access.js";

const statusToProto: Record<ShipmentRow["status"], ShipmentStatus> = {
  pending: ShipmentStatus.PENDING,
  in_transit: ShipmentStatus.IN_TRANSIT,
  delivered: ShipmentStatus.DELIVERED,
  cancelled: ShipmentStatus.CANCELLED,
};

/** The ShippingService handlers over a shipment store; `access` decides who may call what. */
export function createShippingService(store: ShipmentStore, access: ShippingAccess): ServiceImpl<typeof ShippingService> {
  // A shipment the caller may not read is NOT_FOUND, the same answer as one that does not exist.
  const readable = <T extends ShipmentRow>(ctx: HandlerContext, row: T | undefined): T | undefined =>
    row && access.mayRead(ctx, row.customerId) ? row : undefined;
  return {
    async createShipment(req, ctx) {
      // Identity before validation: an unauthorised caller learns nothing from field errors either.
      access.requireMutator(ctx, "CreateShipment");
      validateCreate(req);
      const address = req.address!;
      const { row } = await store.createOnce({
        orderId: req.orderId.toLowerCase(),
        customerId: req.customerId,
        address: { name: address.name, line1: address.line1, line2: address.line2, city: address.city, postalCode: address.postalCode, country: address.country },
        items: req.items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
      });
      return { shipment: toProto(row) };
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
      requireUuid("id", req.id);
      const outcome = await store.cancel(req.id);
      if (outcome.kind === "not-found") throw new ConnectError(`shipment ${req.id} not found`, Code.NotFound);
      if (outcome.kind === "not-cancellable") {
        throw new ConnectError(`shipment ${req.id} is ${outcome.row.status} and can no longer be cancelled`, Code.FailedPrecondition);
      }
      return { shipment: toProto(outcome.row) };
    },
    createShipments() {
      throw new ConnectError("CreateShipments is not served yet", Code.Unimplemented);
    },
    updateShipmentStatus() {
      throw new ConnectError("UpdateShipmentStatus is not served yet", Code.Unimplemented);
    },
  };
}

/** Checks CreateShipment's input itself, with the limits CreateOrder applies, rather than trusting its caller. */
function validateCreate(req: CreateShipmentRequest): void {
  const violations: FieldViolation[] = [];
  if (!isUuid(req.orderId)) violations.push({ field: "order_id", description: "must be a UUID" });
  limitText(violations, "customer_id", req.customerId, maxIdLength);
  validateAddress(violations, "address", req.address);
  validateItems(violations, req.items);
  if (violations.length > 0) throw invalidArgument(violations);
}

function found<T>(row: T | undefined, what: string): T {
  if (!row) throw new ConnectError(`${what} not found`, Code.NotFound);
  return row;
}

/** Maps a stored shipment to its protobuf message. */
export function toProto(row: ShipmentRow): Shipment {
  return create(ShipmentSchema, {
    id: row.id,
    orderId: row.orderId,
    status: statusToProto[row.status],
    carrier: row.carrier,
    trackingNumber: row.trackingNumber,
    createTime: timestampFromDate(row.createdAt),
    updateTime: timestampFromDate(row.updatedAt),
    address: row.address,
    items: row.items,
  });
}
