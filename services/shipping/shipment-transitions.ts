import { Code, ConnectError } from "@connectrpc/connect";
import type { ShipmentRow } from "./db/schema.js";

/** Where a shipment is in its life, as stored. */
export type ShipmentState = ShipmentRow["status"];

// How far along the way to the recipient each state is; cancelled is off the road altogether.
const progress: Record<ShipmentState, number | undefined> = { pending: 0, picked_up: 1, in_transit: 2, delivered: 3, cancelled: undefined };

/** What moving a shipment to a status means: a real change, or the status it already has (an idempotent repeat). */
export type TransitionPlan = "change" | "unchanged";

/**
 * Checks a move of the shipment's life: PENDING -> PICKED_UP -> IN_TRANSIT -> DELIVERED, forward
 * skips allowed (a carrier may report IN_TRANSIT without a pickup scan), PENDING -> CANCELLED. The
 * status it already has is "unchanged". Anything else throws FAILED_PRECONDITION saying why; `what`
 * names the shipment in that message.
 */
export function planTransition(from: ShipmentState, to: ShipmentState, what = "the shipment"): TransitionPlan {
  if (from === to) return "unchanged";
  if (to === "cancelled") {
    if (from === "pending") return "change";
    throw refused(`${what} is ${from} and can no longer be cancelled`);
  }
  if (from === "cancelled") throw refused(`${what} was cancelled; it cannot become ${to}`);
  if (progress[to]! < progress[from]!) throw refused(`${what} is ${from}; it cannot go back to ${to}`);
  return "change";
}

/** The step a carrier takes next from a status (pending -> picked_up -> in_transit -> delivered); undefined at the end of the road. */
export function nextCarrierStep(status: ShipmentState): ShipmentState | undefined {
  switch (status) {
    case "pending":
      return "picked_up";
    case "picked_up":
      return "in_transit";
    case "in_transit":
      return "delivered";
    default:
      return undefined;
  }
}

function refused(message: string): ConnectError {
  return new ConnectError(message, Code.FailedPrecondition);
}
