import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CreateOrderRequestSchema } from "../../../gen/orders/v1/orders_pb.js";
import { capRepeatedFields, maxDecodedListElements } from "./list-caps.js";

describe("capRepeatedFields", () => {
  const request = (lines: number) =>
    create(CreateOrderRequestSchema, { customerId: "c-1", currency: "EUR", requestId: "r-1", items: Array.from({ length: lines }, (_, i) => ({ sku: `S-${i}`, quantity: 1, unitPriceCents: 1n })) });

  it("cuts a 100,000-element list to 1001 before decoding, keeping every other field", () => {
    const bytes = toBinary(CreateOrderRequestSchema, request(100_000));
    const capped = capRepeatedFields(CreateOrderRequestSchema, bytes);
    // What reaches the decoder is the capped bytes: about 1% of the request (a timing comparison here
    // would be a timed test on a noisy machine; the cost is in bench and tests/attacks.test.ts).
    expect(capped.byteLength).toBeLessThan(bytes.byteLength / 50);
    const decoded = fromBinary(CreateOrderRequestSchema, capped);
    expect(decoded.items).toHaveLength(maxDecodedListElements);
    expect(decoded.items.at(-1)?.sku).toBe("S-1000");
    expect(decoded).toMatchObject({ customerId: "c-1", currency: "EUR", requestId: "r-1" });
  });

  it("returns a request within the cap, and bytes that do not parse, unchanged", () => {
    const bytes = toBinary(CreateOrderRequestSchema, request(1000));
    expect(capRepeatedFields(CreateOrderRequestSchema, bytes)).toBe(bytes);
    const garbage = new Uint8Array([0x22, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(capRepeatedFields(CreateOrderRequestSchema, garbage)).toBe(garbage);
  });
});
