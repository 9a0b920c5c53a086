import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { nextCarrierStep, planTransition, type ShipmentState } from "./shipment-transitions.js";

const states: ShipmentState[] = ["pending", "picked_up", "in_transit", "delivered", "cancelled"];

// Every (from, to) pair: "change", "unchanged", or the FAILED_PRECONDITION message it must carry.
const table: Record<ShipmentState, Record<ShipmentState, string>> = {
  pending: { pending: "unchanged", picked_up: "change", in_transit: "change", delivered: "change", cancelled: "change" },
  picked_up: { pending: "is picked_up; it cannot go back to pending", picked_up: "unchanged", in_transit: "change", delivered: "change", cancelled: "is picked_up and can no longer be cancelled" },
  in_transit: {
    pending: "is in_transit; it cannot go back to pending",
    picked_up: "is in_transit; it cannot go back to picked_up",
    in_transit: "unchanged",
    delivered: "change",
    cancelled: "is in_transit and can no longer be cancelled",
  },
  delivered: {
    pending: "is delivered; it cannot go back to pending",
    picked_up: "is delivered; it cannot go back to picked_up",
    in_transit: "is delivered; it cannot go back to in_transit",
    delivered: "unchanged",
    cancelled: "is delivered and can no longer be cancelled",
  },
  cancelled: {
    pending: "was cancelled; it cannot become pending",
    picked_up: "was cancelled; it cannot become picked_up",
    in_transit: "was cancelled; it cannot become in_transit",
    delivered: "was cancelled; it cannot become delivered",
    cancelled: "unchanged",
  },
};

describe("planTransition", () => {
  it.each(states.flatMap((from) => states.map((to) => [from, to, table[from][to]] as const)))("%s -> %s: %s", (from, to, expected) => {
    if (expected === "change" || expected === "unchanged") {
      expect(planTransition(from, to)).toBe(expected);
      return;
    }
    let error: unknown;
    try {
      planTransition(from, to, "shipment s-1");
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((error as ConnectError).rawMessage).toBe(`shipment s-1 ${expected}`);
  });
});

describe("nextCarrierStep", () => {
  it("walks the road forward and stops at its ends", () => {
    expect(states.map(nextCarrierStep)).toEqual(["picked_up", "in_transit", "delivered", undefined, undefined]);
    // Every step the carrier takes is one planTransition allows.
    for (const from of states) {
      const to = nextCarrierStep(from);
      if (to) expect(planTransition(from, to)).toBe("change");
    }
  });
});
