import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Shipment, ShipmentSchema, ShipmentStatus } from "../../gen/shipping/v1/shipping_pb.js";
import type { ShipmentRow } from "./db/schema.js";
import type { ShipmentState } from "./shipment-transitions.js";

/** Each stored status as its protobuf enum value. */
export const statusToProto: Record<ShipmentState, ShipmentStatus> = {
  pending: ShipmentStatus.PENDING,
  picked_up: ShipmentStatus.PICKED_UP,
  in_transit: ShipmentStatus.IN_TRANSIT,
  delivered: ShipmentStatus.DELIVERED,
  cancelled: ShipmentStatus.CANCELLED,
};

/** The stored status of a protobuf enum value; undefined for UNSPECIFIED and values this build does not know. */
export function statusFromProto(status: ShipmentStatus): ShipmentState | undefined {
  return (Object.keys(statusToProto) as ShipmentState[]).find((state) => statusToProto[state] === status);
}

/** Maps a stored shipment to its protobuf message (the API's answer and the events' payload). */
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
    version: row.version,
  });
}
